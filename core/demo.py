"""The "iris studies" sample dataset and the tutorial flow that loads it.

``write_demo(folder)`` writes ``iris_studies/study{0,1,2}_raw_images/`` with
generated JPEG flowers and a ``meta.csv`` each: the same bytes on every call
(a seeded generator, no timestamps), and files already in place are left alone.
``load_demo(folder)`` registers it into the current instance under tracked
runs, once: three study folders, a single image, a collection with two more
versions, and a summary table made from the collection, so lineage has depth.
The studies and the image arrive annotated from their ``meta.csv`` files
(``ls.annotate``): each study folder carries its ``study`` label and a table of
its images' species and measurements, the single image its species and
measurements as feature values.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import tempfile
from pathlib import Path
from typing import Any

from .annotation import annotate
from .artifact import Artifact, describe_source
from .collection import Collection
from .hashing import hash_bytes, hash_collection
from .keys import relative_key
from .log import say
from .provenance import Transform, finish, track
from .storages import Storage
from .version import __version__

SPECIES = ("setosa", "versicolor", "virginica")
N_STUDIES = 3
IMAGES_PER_STUDY = 16
IMAGE_SIZE = 96
COLLECTION_NAME = "Iris studies"
META_KEY = "iris_studies/meta.csv"
DEMO_KEY = "labshelf-demo"

# mean and spread of sepal length/width, petal length/width (cm), per species
MEASURES = {
    "setosa": ((5.0, 0.35), (3.4, 0.38), (1.5, 0.17), (0.25, 0.1)),
    "versicolor": ((5.9, 0.52), (2.8, 0.31), (4.3, 0.47), (1.3, 0.2)),
    "virginica": ((6.6, 0.64), (3.0, 0.32), (5.6, 0.55), (2.0, 0.27)),
}
PETAL_RGB = {"setosa": (150, 120, 200), "versicolor": (110, 90, 190), "virginica": (170, 60, 160)}
COLUMNS = ("filename", "species", "sepal_length", "sepal_width", "petal_length", "petal_width")


# ---------------------------------------------------------------- writing the files


def _measurements(rng: random.Random, species: str) -> list[float]:
    return [round(max(0.1, rng.gauss(mu, sd)), 1) for mu, sd in MEASURES[species]]


def _petal(cx: float, cy: float, angle: float, length: float, width: float) -> list[tuple]:
    """A petal as a polygon: an ellipse from the centre outwards at ``angle``."""
    points = []
    for i in range(24):
        t = 2 * math.pi * i / 24
        x, y = length / 2 * (1 + math.cos(t)), width / 2 * math.sin(t)
        points.append(
            (
                cx + x * math.cos(angle) - y * math.sin(angle),
                cy + x * math.sin(angle) + y * math.cos(angle),
            )
        )
    return points


def _image(rng: random.Random, species: str, sizes: list[float]) -> bytes:
    """A small JPEG of a flower whose petals follow the measurements."""
    from PIL import Image, ImageDraw  # deferred: Pillow loads only to draw the demo images

    n = IMAGE_SIZE
    img = Image.new("RGB", (n, n), (60 + rng.randrange(40), 110 + rng.randrange(50), 60))
    draw = ImageDraw.Draw(img)
    cx, cy, turn = n / 2 + rng.uniform(-6, 6), n / 2 + rng.uniform(-6, 6), rng.uniform(0, 2)
    r, g, b = PETAL_RGB[species]
    for i in range(3):  # sepals, then petals on top
        angle = turn + i * 2 * math.pi / 3
        draw.polygon(
            _petal(cx, cy, angle, sizes[0] * 6.5, sizes[1] * 4.5), fill=(r - 40, g - 30, b - 30)
        )
        draw.polygon(
            _petal(cx, cy, angle + math.pi / 3, sizes[2] * 6.5, sizes[3] * 9 + 4), fill=(r, g, b)
        )
    draw.ellipse((cx - 4, cy - 4, cx + 4, cy + 4), fill=(240, 200, 60))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _study(folder: Path, index: int) -> None:
    rng = random.Random(1000 + index)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(IMAGES_PER_STUDY):
        species = SPECIES[(i + index) % len(SPECIES)]
        sizes = _measurements(rng, species)
        data = _image(rng, species, sizes)
        name = f"iris-{hashlib.sha256(data).hexdigest()[:16]}.jpg"
        _write_if_changed(folder / name, data)
        rows.append([name, species, *sizes])
    _write_if_changed(folder / "meta.csv", _csv(COLUMNS, rows))


def _csv(header: tuple[str, ...], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def write_demo(folder: str | Path) -> Path:
    """Write the iris studies under ``folder``; returns ``folder/iris_studies``."""
    root = Path(folder).expanduser().absolute() / "iris_studies"
    for index in range(N_STUDIES):
        _study(root / f"study{index}_raw_images", index)
    return root


def study_folders(root: Path) -> list[Path]:
    return [root / f"study{i}_raw_images" for i in range(N_STUDIES)]


def summary_table(studies: list[tuple[str, Path]]) -> bytes:
    """All studies' ``meta.csv`` rows in one table, with a ``study`` column (its name)."""
    rows = []
    for name, folder in studies:
        with open(folder / "meta.csv", newline="", encoding="utf-8") as fh:
            rows += [[name, *row] for row in list(csv.reader(fh))[1:]]
    return _csv(("study", *COLUMNS), rows)


# ---------------------------------------------------------------- loading it


def is_loaded(root: Path) -> bool:
    """Whether the current instance holds the demo's final collection and summary table."""

    folders = study_folders(root)
    hashes = [describe_source(study)["hash"] for study in folders]
    table = hash_bytes(summary_table([(f.name, f) for f in folders]))[0]
    return (
        Collection.filter(hash=hash_collection(hashes)).exists()
        and Artifact.filter(hash=table).exists()
    )


def load_demo(folder: str | Path) -> dict[str, Any]:
    """Write the dataset and register it once; returns the main records by role."""
    root = write_demo(folder)
    if is_loaded(root):
        say(f"the iris studies demo is loaded already (files in {root})")
        return {}
    records = _register(root)
    records.update(_summarize(records["collection"], root))
    return records


def _key(path: Path, key: str) -> str | None:
    """``key``, unless ``path`` lies in a storage root and so keeps its own key."""
    roots = Storage.filter().values_list("root")
    return None if any(relative_key(r, str(path)) is not None for r in roots) else key


def _track(name: str) -> None:
    key = f"{DEMO_KEY}-{name.rsplit(' ', 1)[-1]}"
    track(transform=Transform(name=name, key=key, version=__version__, type="pipeline"))


def _register(root: Path) -> dict[str, Any]:
    """Run 1: the study folders, one image, a collection in three versions."""
    _track("iris studies: register")
    try:
        studies = [
            Artifact(
                folder,
                key=_key(folder, f"iris_studies/{folder.name}"),
                description=f"Iris study {i}",
            ).save()
            for i, folder in enumerate(study_folders(root))
        ]
        first = sorted(study_folders(root)[0].glob("*.jpg"))[0]
        image = Artifact(
            first,
            key=_key(first, f"iris_studies/images/{first.name}"),
            description="A single iris image",
        ).save()
        annotate([*studies, image], _metadata(root), on="filename")
        collection = Collection(
            studies[:1], name=COLLECTION_NAME, description="Raw images of the iris studies"
        ).save()
        for n in (2, 3):
            collection = Collection(studies[:n], revises=collection).save()
    finally:
        finish()
    return dict(studies=studies, image=image, collection=collection)


def _metadata(root: Path) -> Any:  # -> pandas.DataFrame
    """Every study's ``meta.csv`` in one table, with the study ("study0", …) of each image."""
    import pandas as pd  # deferred: pandas costs ~200 ms to import

    frames = [
        pd.read_csv(folder / "meta.csv").assign(study=f"study{i}")
        for i, folder in enumerate(study_folders(root))
    ]
    return pd.concat(frames, ignore_index=True)


def _summarize(collection: Any, root: Path) -> dict[str, Any]:
    """Run 2: read the collection's studies, write one table of all their measurements."""
    _track("iris studies: summarize")
    try:
        studies = [(Path(a.key or a.uid).name, Path(a.cache())) for a in collection.artifacts]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "meta.csv"
            path.write_bytes(summary_table(studies))
            table = Artifact(
                path, key=_key(path, META_KEY), description="Measurements of all iris studies"
            ).save()
    finally:
        finish()
    return dict(table=table)
