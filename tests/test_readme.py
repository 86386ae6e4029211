"""The README's code blocks run as written and do what their comments claim (issue 19).

Every ```python / ```bash block of the user-facing docs is either run here, in a fresh home,
config, data and cache folder (conftest's isolation) with the demo data in a temporary folder,
or marked ``<!-- readme-test: skip (why) -->`` on the line above it. The claims that matter are
checked after each block: a real version 2, a collection with two versions, the lineage file,
every query line returning something, the command lines exiting 0, and a clean terminal (no
warning from a library, only labshelf's own "→" notes).
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "ARCHITECTURE.md")
FENCE = re.compile(
    r"(?:<!-- readme-test: (?P<skip>[^>]*?) -->\n)?^```(?P<lang>python|bash)\n(?P<code>.*?)^```$",
    re.S | re.M,
)
# Calls whose result a tutorial line shows (in a notebook) and that must not come back empty.
SHOWN_RESULTS = {"df", "count", "first", "all", "one"}
TIMEOUT = 300


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    skip: str | None

    @property
    def heading(self) -> str:
        """The nearest heading above the block, to name it in a failure."""
        heading, fenced = self.doc, False
        for text in (REPO / self.doc).read_text(encoding="utf-8").splitlines()[: self.line]:
            if text.startswith("```"):
                fenced = not fenced
            elif text.startswith("#") and not fenced:
                heading = text.lstrip("# ")
        return heading


def blocks(doc: str) -> list[Block]:
    text = (REPO / doc).read_text(encoding="utf-8")
    return [
        Block(doc, text.count("\n", 0, m.start("code")), m["lang"], m["code"], m["skip"])
        for m in FENCE.finditer(text)
    ]


def block_under(heading: str, lang: str) -> Block:
    found = [
        b for b in blocks("README.md") if b.lang == lang and b.heading == heading and b.skip is None
    ]
    assert len(found) == 1, f"README.md should have one {lang} block to run under '{heading}'"
    return found[0]


# The blocks run below; every other block must say why it is not run.
RUN = {
    ("In Python: `import labshelf as ls`", "python"),
    ("On the command line", "bash"),
    ("Annotate: labels and features", "python"),
    ("Annotate: labels and features", "bash"),
    ("Watch an instrument's folder", "bash"),
    ("Shared instances (PostgreSQL + S3)", "bash"),
}


def _env() -> dict[str, str]:
    env = dict(os.environ)  # conftest made HOME, config, data and cache folders fresh
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("LABSHELF_QUIET", None)
    env.pop("PYTHONWARNINGS", None)
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, (
        f"{argv} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    _assert_clean_terminal(proc.stderr)
    return proc.stdout


def _assert_clean_terminal(stderr: str) -> None:
    """Only labshelf's own notes ("→ …", "labshelf: …") reach a user's terminal from normal
    calls: no library's warning, no traceback."""
    own = ("→ ", "labshelf: ")
    stray = [line for line in stderr.splitlines() if line.strip() and not line.startswith(own)]
    assert not stray, "stray output on stderr:\n" + "\n".join(stray)


def test_every_block_is_run_or_says_why() -> None:
    seen = set()
    for doc in DOCS:
        for block in blocks(doc):
            key = (block.heading, block.lang)
            if block.skip is None:
                assert doc == "README.md" and key in RUN, (
                    f"{doc}:{block.line} ({block.heading}): a {block.lang} block that no test "
                    "runs; run it in tests/test_readme.py or mark it "
                    "'<!-- readme-test: skip (why) -->'"
                )
                seen.add(key)
            else:
                assert re.fullmatch(r"skip \(.{10,}\)", block.skip), (
                    f"{doc}:{block.line}: a skipped block must say why: skip (reason)"
                )
    assert seen == RUN, f"blocks expected to run but missing: {RUN - seen}"


def _shown_results(code: str) -> list[str]:
    """The source of each top-level line whose value a notebook would show (`….df()`, …)."""
    lines = []
    for node in ast.parse(code).body:
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr in SHOWN_RESULTS
        ):
            lines.append(ast.get_source_segment(code, node) or "")
    return lines


CHECKS = """

# ---- appended by tests/test_readme.py: what the comments above claim
from PIL import Image as _Image

assert v2.version == "2" and v2.is_latest, (v2.version, v2.is_latest)
assert v2.versions.count() == 2 and v2.stem_uid == study.stem_uid
assert study.is_latest is False, "refresh() should show the first version is not the latest"
assert c2.version == "2" and c2.is_latest and c2.versions.count() == 2
assert ls.Collection.get(c.uid).is_latest is False
assert [a.uid for a in c2.artifacts] == [v2.uid, image.uid]
assert same == image
assert isinstance(image.load(), _Image.Image)
assert Path(image.cache()).is_file()
assert ls.Artifact.get(image.uid).visibility == 1, "restore() should bring the image back"
_svg = Path("lineage.svg").read_text(encoding="utf-8")
assert "<svg" in _svg and "tutorial.py" in _svg, "the lineage should show the script"
for _line in SHOWN:
    _value = eval(_line)
    assert (len(_value) if hasattr(_value, "__len__") else _value), f"empty: {_line}"
_t = ls.Transform.filter(key__endswith="tutorial.py").one()
assert _t.type == "script" and "ls.track()" in _t.source_code
assert all(r.finished_at is not None for r in ls.Run.filter(transform=_t))
print("README CHECKS PASSED")
"""


@pytest.mark.timeout(TIMEOUT * 2)
def test_python_tutorial_runs_and_does_what_it_says(tmp_path: Path) -> None:
    block = block_under("In Python: `import labshelf as ls`", "python")
    work = tmp_path / "work"
    work.mkdir()
    _run(["labshelf", "demo", "."], work)
    script = work / "tutorial.py"
    shown = _shown_results(block.code)
    assert len(shown) >= 3, "the query lines of the tutorial were not found"
    script.write_text(block.code + f"\nSHOWN = {shown!r}" + CHECKS, encoding="utf-8")
    stdout = _run([sys.executable, "tutorial.py"], work)
    assert "README CHECKS PASSED" in stdout
    assert re.search(r"^2 True$", stdout, re.M), "print(v2.version, v2.is_latest) -> 2 True"
    assert re.search(r"^2 2$", stdout, re.M), "print(c2.version, c2.versions.count()) -> 2 2"
    assert "~" not in os.listdir(work), "'~/lab-data' should be the home folder's"
    assert (Path(os.environ["HOME"]) / "lab-data" / ".labshelf").is_dir()


@pytest.mark.timeout(TIMEOUT * 2)
def test_command_line_tutorial_runs(tmp_path: Path) -> None:
    block = block_under("On the command line", "bash")
    work = tmp_path / "work"
    work.mkdir()
    stdout = _run(["bash", "-euo", "pipefail", "-c", block.code], work)
    assert "Artifact: tables/study0.csv" in stdout  # describe by key
    assert "iris_studies/study1_raw_images" in stdout  # ls --search
    assert "all match their records; nothing left over" in stdout  # doctor
    assert (Path(os.environ["HOME"]) / "lab-data" / ".labshelf").is_dir()


@pytest.mark.timeout(TIMEOUT * 2)
def test_shared_instance_lines_run_against_real_servers(
    tmp_path: Path, pg_server: object, s3_server: object
) -> None:
    """The shared-instance lines, with the lab's servers replaced by this session's PostgreSQL
    and S3 servers; Bob's line runs with a configuration of his own."""
    block = block_under("Shared instances (PostgreSQL + S3)", "bash")
    database = pg_server.create_database()  # type: ignore[attr-defined]
    bucket = s3_server.create_bucket()  # type: ignore[attr-defined]
    code = re.sub(r"postgresql\+psycopg://\w+@db\.lab:5432/labshelf", database.url, block.code)
    code = code.replace("s3://lab-bucket/", f"s3://{bucket}/")
    ada, bob = [line for line in code.splitlines() if line.strip()]
    assert database.url in ada and bucket in ada and database.url in bob
    _run(["bash", "-euo", "pipefail", "-c", ada], tmp_path)
    env = _env()
    for var in ("LABSHELF_CONFIG_DIR", "LABSHELF_DATA_DIR", "LABSHELF_CACHE_DIR", "HOME"):
        env[var] = str(tmp_path / "bob" / var.lower())
        Path(env[var]).mkdir(parents=True)
    _run(["bash", "-euo", "pipefail", "-c", bob], tmp_path, env)
    info = _run(["labshelf", "info", "--json"], tmp_path, env)
    assert '"lab"' in info and f"s3://{bucket}/labshelf" in info


@pytest.mark.timeout(TIMEOUT)
def test_watch_line_registers_what_lands_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The watch line as written, with the instrument's folder replaced by a temporary one and
    a short settle time: a file written in chunks is registered once, and Ctrl+C stops it."""
    block = block_under("Watch an instrument's folder", "bash")
    folder = tmp_path / "confocal2"
    folder.mkdir()
    code = block.code.replace("/data/confocal2", str(folder)).replace(
        "--settle 10s", "--settle 0.5s"
    )
    assert str(folder) in code and "--settle 0.5s" in code
    _run(["labshelf", "init", "--storage", str(tmp_path / "store")], tmp_path)
    proc = subprocess.Popen(
        ["bash", "-c", f"exec {code.strip()}"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events: list[dict[str, object]] = []
    try:
        assert proc.stdout is not None
        events.append(json.loads(proc.stdout.readline()))
        assert events[0]["event"] == "started", events
        with open(folder / "cell-001.tif", "wb") as f:  # an instrument writes in chunks
            for _ in range(4):
                f.write(os.urandom(64 * 1024))
                f.flush()
        while events[-1]["event"] not in ("registered", "failed"):
            events.append(json.loads(proc.stdout.readline()))
        assert events[-1]["event"] == "registered", events
        assert events[-1]["key"] == "confocal2/cell-001.tif"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    events += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert events[-1]["event"] == "stopped", events
    assert proc.returncode in (0, 130), (proc.returncode, err)
    _assert_clean_terminal(err)
    listed = json.loads(_run(["labshelf", "ls", "--json"], tmp_path))
    assert [row["key"] for row in listed] == ["confocal2/cell-001.tif"]


def _printed_claims(code: str) -> list[str]:
    """What the block says it prints: the comment lines right after each ``print(...)``."""
    claims: list[str] = []
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if line.lstrip().startswith("print("):
            j = i + 1
            while j < len(lines) and lines[j].startswith("# "):
                claims.append(lines[j][2:])
                j += 1
    return claims


@pytest.mark.timeout(TIMEOUT * 2)
def test_annotate_section_prints_what_it_says(tmp_path: Path) -> None:
    """The Annotate section continues the tutorial's instance: its Python block prints exactly
    the lines its comments show, and its command lines run."""
    tutorial = block_under("In Python: `import labshelf as ls`", "python")
    python = block_under("Annotate: labels and features", "python")
    shell = block_under("Annotate: labels and features", "bash")
    work = tmp_path / "work"
    work.mkdir()
    _run(["labshelf", "demo", "."], work)
    (work / "tutorial.py").write_text(tutorial.code, encoding="utf-8")
    _run([sys.executable, "tutorial.py"], work)
    (work / "annotate.py").write_text(python.code, encoding="utf-8")
    printed = _run([sys.executable, "annotate.py"], work).splitlines()
    claims = _printed_claims(python.code)
    assert len(claims) >= 6, "the Annotate block should show what it prints"
    assert printed == claims
    stdout = _run(["bash", "-euo", "pipefail", "-c", shell.code], work)
    assert "16 of 16 row(s) matched" in stdout
    reviewed = json.loads(_run(["labshelf", "ls", "--label", "reviewed", "--json"], work))
    assert [r["key"].split("/")[0] for r in reviewed] == ["study2_raw_images"]
    gfp = json.loads(
        _run(["labshelf", "ls", "--label", "Stain/GFP", "--limit", "-1", "--json"], work)
    )
    # the 16 images, and meta.csv (registered in the tutorial as tables/study1_raw_images.csv)
    keys = sorted(r["key"] for r in gfp)
    assert len(keys) == 17 and keys[-1] == "tables/study1_raw_images.csv"
    assert all(k.startswith("study1_raw_images/iris-") for k in keys[:-1])
