"""labshelf scripting tutorial: the iris studies, end to end.

Usage: python tutorial.py DATA_DIR OUT_DIR  (on the current instance)
"""

import sys
from pathlib import Path

import labshelf as ls
from labshelf.demo import write_demo

data, out = Path(sys.argv[1]), Path(sys.argv[2])

# 1. record this script as a transform and start a run
ls.track()

# 2. the sample data (what `labshelf demo DATA_DIR` writes)
root = write_demo(data)
ls.UPath(root).view_tree()

# 3. three study folders, then a single image
studies = [
    ls.Artifact(
        root / f"study{i}_raw_images",
        key=f"iris_studies/study{i}_raw_images",
        description=f"Iris study {i}",
    ).save()
    for i in range(3)
]
image_path = sorted((root / "study0_raw_images").glob("*.jpg"))[0]
image = ls.Artifact(
    image_path, key=f"iris_studies/images/{image_path.name}", description="My image"
).save()

# 4. a collection that grows by two more versions
collection = ls.Collection(
    studies[0], name="Iris collection", description="Raw images of the iris studies"
).save()
collection = ls.Collection(studies[:2], revises=collection).save()
collection = ls.Collection(studies, revises=collection).save()

# 5. query
print(ls.Artifact.df())
print(ls.Artifact.search("study").df())
print(ls.Artifact.filter(key__startswith="iris_studies/study", size__gt=1000).df())
study1 = ls.Artifact.get(key="iris_studies/study1_raw_images")
print(collection.versions.df())
print(image.load().size)

# 6. look closer: fields, provenance, lineage
study1.describe()
collection.describe()
collection.view_lineage(out / "lineage.svg")

# 7. done: the run gets its end time, the transform its source code
ls.finish()
