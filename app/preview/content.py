"""What the preview pane shows of a local file or folder, read on a worker and size-capped.

Nothing here reads a whole large file: tables stop after `TABLE_ROWS` rows, text after
`TEXT_BYTES`, images are decoded at display size.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from labshelf.app import gateway
from labshelf.app.data.formatting import human_size
from labshelf.app.preview.imaging import TooLarge, open_for_preview, to_qimage
from PySide6.QtGui import QImage

TABLE_ROWS = 200
TEXT_BYTES = 256 * 1024
FOLDER_FILES = 5000
IMAGE_SIDE = 2048


@dataclass
class PreviewData:
    """One preview: `kind` is image, table, text, folder or message."""

    kind: str
    title: str = ""
    note: str = ""
    image: QImage | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""
    root: str = ""
    files: list[tuple[str, int]] = field(default_factory=list)


def load_preview(path: Path) -> PreviewData:
    """Read what is needed to preview `path` (a file or a folder)."""
    if path.is_dir():
        return _folder(path)
    suffix = path.suffix.lower()
    kind = gateway.kind_of(suffix)  # core's file kinds: one list for the whole program
    try:
        if kind == "image":
            return _image(path)
        if suffix in (".csv", ".tsv"):
            return _delimited(path, "\t" if suffix == ".tsv" else ",")
        if suffix == ".parquet":
            return _parquet(path)
        if kind == "json":
            return _json(path)
        if kind == "text" or _looks_like_text(path):
            return _text(path)
    except TooLarge as exc:
        return PreviewData("message", path.name, f"{exc}; open it with the system viewer.")
    size = human_size(path.stat().st_size)
    return PreviewData(
        "message",
        path.name,
        f"No preview for {suffix or 'this'} files ({size}); open it with the system viewer.",
    )


def _image(path: Path) -> PreviewData:
    img, pixels = open_for_preview(path, IMAGE_SIDE)
    note = f"{pixels.text()} · {img.width}×{img.height} shown"  # noqa: RUF001
    return PreviewData("image", path.name, note, image=to_qimage(img))


def _delimited(path: Path, delimiter: str) -> PreviewData:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = next(reader, [])
        rows = [row for _, row in zip(range(TABLE_ROWS), reader, strict=False)]
    return PreviewData("table", path.name, f"first {len(rows)} rows", columns=header, rows=rows)


def _parquet(path: Path) -> PreviewData:
    import pyarrow.parquet as pq  # deferred: heavy, needed for parquet files only

    parquet = pq.ParquetFile(path)
    batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
    columns = parquet.schema_arrow.names
    rows = [] if batch is None else [[str(v) for v in r.values()] for r in batch.to_pylist()]
    total = parquet.metadata.num_rows
    return PreviewData(
        "table", path.name, f"first {len(rows)} of {total} rows", columns=columns, rows=rows
    )


def _json(path: Path) -> PreviewData:
    raw = _head(path)
    if path.stat().st_size <= TEXT_BYTES:
        try:
            raw = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return PreviewData("text", path.name, _text_note(path), text=raw)


def _text(path: Path) -> PreviewData:
    return PreviewData("text", path.name, _text_note(path), text=_head(path))


def _head(path: Path) -> str:
    with path.open("rb") as handle:
        return handle.read(TEXT_BYTES).decode("utf-8", errors="replace")


def _text_note(path: Path) -> str:
    size = path.stat().st_size
    return f"first {human_size(TEXT_BYTES)} of {human_size(size)}" if size > TEXT_BYTES else ""


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(4096)
    return b"\0" not in head


def _folder(path: Path) -> PreviewData:
    files: list[tuple[str, int]] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            files.append((full.relative_to(path).as_posix(), full.stat().st_size))
            if len(files) >= FOLDER_FILES:
                return PreviewData(
                    "folder", path.name, f"first {FOLDER_FILES} files", root=str(path), files=files
                )
    return PreviewData("folder", path.name, f"{len(files)} files", root=str(path), files=files)
