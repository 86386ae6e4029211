"""Write the iris measurements table."""

import sys
from pathlib import Path

import labshelf as ls

ls.track()
path = Path(sys.argv[1]) / "measurements.csv"
path.write_text("species,petal_length\nsetosa,1.4\nsetosa,1.3\nvirginica,5.6\n")
ls.Artifact(path, key="iris/measurements.csv", description="raw measurements").save()
ls.finish()
