#!/usr/bin/env bash
# labshelf developer entry point: ./dev.sh {setup|run|test|bench|build|lock|check-minimums|typecheck|help}
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.labshelf-install.sha256"
# Every package of the dev environment at one version (uv pip compile of pyproject's
# dependencies and the dev extra); ./dev.sh lock updates it.
LOCK="$ROOT/requirements.lock"

# Qt runtime (offscreen and xcb/Xvfb), Graphviz, PostgreSQL: see shared ENV-NOTES.
APT_PACKAGES=(
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3
  libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 libxcb-render-util0
  libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1
  xvfb xauth fonts-dejavu-core
  graphviz libgraphviz-dev pkg-config
  postgresql postgresql-contrib
)

say() { printf '[dev.sh] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Prints the packages of "$@" that dpkg does not report as installed.
missing_apt_packages() {
  local installed
  installed="$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null \
    | awk '$2 == "installed" { print $1 }' || true)"
  local pkg
  for pkg in "$@"; do
    grep -qxF "$pkg" <<<"$installed" || printf '%s\n' "$pkg"
  done
}

apt_updated=0
apt_install() {
  if [[ "$apt_updated" -eq 0 ]]; then
    say "apt-get update"
    apt-get update -qq
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

setup_system_packages() {
  if ! command -v dpkg-query >/dev/null; then
    say "not a Debian-like system: install the Qt runtime libraries, Xvfb, Graphviz and PostgreSQL yourself"
    return 0
  fi
  local missing
  mapfile -t missing < <(missing_apt_packages "${APT_PACKAGES[@]}")
  [[ "${#missing[@]}" -eq 0 ]] && return 0
  if is_root; then
    apt_install "${missing[@]}"
  else
    say "missing system packages; install them with:"
    say "  sudo apt-get install -y --no-install-recommends ${missing[*]}"
  fi
}

find_python() {
  local candidate
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

create_venv() {
  local python
  python="$(find_python)" || die "Python >= 3.11 not found (Debian 12: apt-get install python3 python3-venv)"
  if ! "$python" -c 'import ensurepip' 2>/dev/null; then
    if is_root && [[ "$python" == /usr/bin/* ]]; then
      apt_install python3-venv
    else
      die "$python cannot create virtual environments (Debian: apt-get install python3-venv)"
    fi
  fi
  say "creating .venv with $python"
  "$python" -m venv --clear "$VENV"
}

# uv (pinned in the lock) installs and syncs the venv: it removes what the lock no longer
# lists, which pip cannot. It is bootstrapped with pip, the one tool a fresh venv has.
uv_bin() {
  local want="" spec=uv
  [[ -f "$LOCK" ]] && want="$(grep -m1 -E '^uv==' "$LOCK" | cut -d= -f3 | cut -d' ' -f1)"
  [[ -n "$want" ]] && spec="uv==$want"
  if ! [[ -x "$VENV/bin/uv" ]] \
    || { [[ -n "$want" ]] && [[ "$("$VENV/bin/uv" --version | cut -d' ' -f2)" != "$want" ]]; }; then
    "$PY" -m pip install --quiet "$spec" >>"$VENV/pip-install.log" 2>&1 \
      || die "could not install $spec (log: .venv/pip-install.log)"
  fi
  printf '%s\n' "$VENV/bin/uv"
}

setup_venv() {
  if ! [[ -x "$PY" ]] || ! "$PY" -c '' 2>/dev/null; then
    create_venv
  fi
  [[ -f "$LOCK" ]] || die "requirements.lock is missing (./dev.sh lock makes it)"
  local want have=""
  want="$(cat pyproject.toml "$LOCK" | sha256sum | cut -d' ' -f1)"
  [[ -f "$STAMP" ]] && have="$(<"$STAMP")"
  [[ "$want" == "$have" ]] && return 0
  say "new or changed pyproject.toml or requirements.lock: syncing .venv (log: .venv/pip-install.log)"
  local uv
  uv="$(uv_bin)"
  # --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on some CI and lab machines),
  # every fresh process (an upload worker, the CLI) would otherwise compile SQLAlchemy, pandas
  # and the rest from source: ~2 s of CPU per start
  if ! { "$uv" pip sync --compile-bytecode --python "$PY" "$LOCK" \
    && "$uv" pip install --python "$PY" --no-deps -e .; } >>"$VENV/pip-install.log" 2>&1; then
    tail -n 30 "$VENV/pip-install.log" >&2
    die "installing from requirements.lock failed; full log in .venv/pip-install.log"
  fi
  # A dependency added to (or raised in) pyproject.toml without ./dev.sh lock: say so, rather
  # than fail later on an import.
  local check
  if ! check="$("$uv" pip check --python "$PY" 2>&1)"; then
    printf '%s\n' "$check" | grep -iE "requires|incompatible|missing" | head -n 20 >&2
    die "requirements.lock does not satisfy pyproject.toml: run ./dev.sh lock and commit requirements.lock"
  fi
  printf '%s\n' "$want" >"$STAMP"
}

cmd_setup() {
  setup_system_packages
  # One venv setup at a time: parallel runs in the same tree must not race pip.
  # The lock is held on pyproject.toml because .venv may not exist yet.
  exec 9<pyproject.toml
  if command -v flock >/dev/null; then
    flock 9
  fi
  setup_venv
  exec 9<&-
}

data_dir() {
  if [[ -n "${LABSHELF_DATA_DIR:-}" ]]; then
    printf '%s\n' "$LABSHELF_DATA_DIR"
  else
    printf '%s/labshelf\n' "${XDG_DATA_HOME:-$HOME/.local/share}"
  fi
}

cmd_run() {
  cmd_setup
  local cli="$VENV/bin/labshelf" data
  data="$(data_dir)"
  if ! "$cli" info >/dev/null 2>&1; then
    say "no labshelf instance yet: creating the default one in $data/default-storage"
    "$cli" init --storage "$data/default-storage"
  fi
  "$cli" demo "$data/demo" --load
  if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
    exec "$cli" gui
  fi
  if [[ "${LABSHELF_HEADLESS_OK:-}" == 1 ]]; then
    say "no display: running the GUI under xvfb-run (nothing will be visible)"
    exec xvfb-run -a "$cli" gui
  fi
  say "no display (\$DISPLAY and \$WAYLAND_DISPLAY are empty), so the GUI is not started."
  say "Here is the current instance; open the GUI from a desktop session with ./dev.sh run,"
  say "or run it headless anyway with LABSHELF_HEADLESS_OK=1 ./dev.sh run."
  "$cli" info
  "$cli" ls
}

# build/pkg/labshelf: the package as installed (core/ with app/ and resources/ inside), for
# tools that walk a package's folder instead of importing it (import-linter, PyInstaller).
stage_package() {
  rm -rf build/pkg
  mkdir -p build/pkg
  cp -r core build/pkg/labshelf
  cp -r app build/pkg/labshelf/app
  cp -r resources build/pkg/labshelf/resources
  find build/pkg -name __pycache__ -prune -exec rm -rf {} +
}

# CI keeps only the head of a run's output, and a stuck test must not eat its whole time. So
# under CI pytest runs verbosely into build/pytest-ci.log, bounded by LABSHELF_TEST_BUDGET
# seconds (4,500: CI's 5,400 less setup; each test is bounded by its timeout and
# tests/hard_stop.py's watchdog), and what matters is
# printed first: the outcome, the failures, the slowest tests and, if the run was cut short,
# where it stood. The whole log follows.
pytest_for_ci() {
  local log="$ROOT/build/pytest-ci.log" budget="${LABSHELF_TEST_BUDGET:-4500}" rc=0
  mkdir -p "$ROOT/build"
  # One file per pytest-xdist worker: build/hard-stop.gw0-PID.log, ... (tests/hard_stop.py)
  local stacks="$ROOT/build/hard-stop.log" stack
  rm -f "$ROOT"/build/hard-stop*.log
  QT_QPA_PLATFORM=offscreen PYTHONUNBUFFERED=1 LABSHELF_HARD_STOP_LOG="$stacks" \
    timeout -k 30 "$budget" "$PY" -m pytest tests -v --durations=30 "$@" >"$log" 2>&1 || rc=$?
  for stack in "$ROOT"/build/hard-stop*.log; do
    if [[ -s "$stack" ]]; then
      say "the test that was running when the run ended (and, if tests/hard_stop.py ended it, every thread): ${stack#"$ROOT"/}"
      cat "$stack" >&2
    fi
  done
  if [[ "$rc" -eq 124 || "$rc" -eq 137 ]]; then
    say "pytest did not end within ${budget}s and was stopped; where it stood (end of its log):"
    tail -n 80 "$log" >&2
  elif [[ "$rc" -ne 0 ]] && ! grep -q 'short test summary info' "$log"; then
    say "pytest ended early (exit $rc); the end of its log:"
    tail -n 120 "$log" >&2
  fi
  say "pytest exit $rc; summary:"
  sed -n '/short test summary info/,$p' "$log" >&2
  sed -n '/slowest .*durations/,/short test summary info/p' "$log" | head -n 34 >&2
  say "the whole pytest log ($log):"
  cat "$log" >&2
  return "$rc"
}

cmd_test() {
  cmd_setup
  local failed=()
  say "lint-imports"
  stage_package
  # Its banner and contract list only matter when a contract is broken.
  local contracts
  if contracts="$(PYTHONPATH="$ROOT/build/pkg" "$VENV/bin/lint-imports" 2>&1)"; then
    grep -E '^Contracts:' <<<"$contracts" >&2 || true
  else
    printf '%s\n' "$contracts" >&2
    failed+=("lint-imports")
  fi
  say "ruff check app core tests"
  "$VENV/bin/ruff" check app core tests || failed+=("ruff")
  say "ruff format --check app core tests"
  "$VENV/bin/ruff" format --check app core tests || failed+=("ruff format")
  say "mypy (pyproject's stated strictness) on core and app"
  "$VENV/bin/mypy" --config-file pyproject.toml -p labshelf || failed+=("mypy")
  # The tests run in parallel, one pytest-xdist worker per core (LABSHELF_TEST_WORKERS: a
  # number, or 0 for one process; `-n N` among ARGS wins too). --dist loadgroup: tests go out
  # one by one, those of an xdist_group together (the bundle's). --max-worker-restart=0: a
  # worker that tests/hard_stop.py stops (or that crashes) ends the run, as without xdist.
  local extra=(-n "${LABSHELF_TEST_WORKERS:-auto}" --dist loadgroup --max-worker-restart=0)
  # CI also builds the PyInstaller bundle and smoke-tests it (tests/bundle, a few minutes; the
  # build starts in the background when the run starts).
  [[ "${CI:-}" == true ]] && extra+=(--bundle)
  say "pytest tests ${extra[*]} $*"
  local rc=0
  if [[ "${CI:-}" == true ]]; then
    pytest_for_ci "${extra[@]}" "$@" || rc=$?
  else
    QT_QPA_PLATFORM=offscreen "$PY" -m pytest tests "${extra[@]}" "$@" || rc=$?
  fi
  if [[ "$rc" -eq 5 ]]; then
    failed+=("pytest (no tests collected)")
  elif [[ "$rc" -ne 0 ]]; then
    failed+=("pytest (exit $rc)")
  fi
  if [[ "${#failed[@]}" -gt 0 ]]; then
    say "FAILED: ${failed[*]}"
    exit 1
  fi
  say "all checks passed"
}

cmd_bench() {
  cmd_setup
  shopt -s nullglob
  local benches=(tests/benchmarks/bench_*.py) failed=() bench
  [[ "${#benches[@]}" -gt 0 ]] || die "no benchmarks found (tests/benchmarks/bench_*.py)"
  for bench in "${benches[@]}"; do
    say "$bench"
    "$PY" "$bench" "$@" || failed+=("$bench")
  done
  if [[ "${#failed[@]}" -gt 0 ]]; then
    say "FAILED: ${failed[*]}"
    exit 1
  fi
}

cmd_build() {
  cmd_setup
  [[ -f build.spec ]] || die "build.spec not found in $ROOT"
  exec "$VENV/bin/pyinstaller" --noconfirm build.spec "$@"
}

# requirements.lock from pyproject.toml: the newest versions allowed, for this Python
# (3.11 on the project's machines) on Linux. ARGS go to uv pip compile, e.g.
# `./dev.sh lock --upgrade-package pandas`; without --upgrade, pins already in the lock stay.
cmd_lock() {
  if ! [[ -x "$PY" ]] || ! "$PY" -c '' 2>/dev/null; then
    create_venv
  fi
  local uv
  uv="$(uv_bin)"
  "$uv" pip compile pyproject.toml --extra dev --python "$PY" --python-platform x86_64-manylinux_2_36 \
    --no-emit-package labshelf --custom-compile-command "./dev.sh lock" \
    --output-file "$LOCK" "$@"
  say "requirements.lock updated; the next ./dev.sh command syncs .venv to it"
}

# The lowest versions pyproject.toml allows for labshelf's own dependencies (their
# dependencies at the newest they allow), in a throwaway venv: labshelf installed there
# from the repository, then imported and used (save, query, load, lineage, the GUI smoke test).
cmd_check_minimums() {
  cmd_setup
  local uv tmp rc=0
  uv="$(uv_bin)"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/labshelf-minimums.XXXXXX")"
  say "resolving the minimums (uv --resolution lowest-direct) in $tmp"
  "$uv" pip compile pyproject.toml --resolution lowest-direct --python "$PY" \
    --python-platform x86_64-manylinux_2_36 --no-header --quiet --output-file "$tmp/minimums.txt"
  grep -iE "^($(python_direct_names))==" "$tmp/minimums.txt" | sed 's/^/  /' >&2 || true
  "$uv" venv --quiet --python "$PY" "$tmp/venv"
  if ! "$uv" pip install --quiet --python "$tmp/venv/bin/python" -r "$tmp/minimums.txt"; then
    rm -rf "$tmp"
    die "the minimum versions do not install"
  fi
  "$uv" pip install --quiet --python "$tmp/venv/bin/python" --no-deps "$ROOT"
  say "smoke test with the minimums"
  (
    cd "$tmp"
    export QT_QPA_PLATFORM=offscreen LABSHELF_USER=minimums HOME="$tmp/home"
    export LABSHELF_CONFIG_DIR="$tmp/config" LABSHELF_DATA_DIR="$tmp/data" LABSHELF_CACHE_DIR="$tmp/cache"
    unset LABSHELF_INSTANCE PYTHONPATH
    mkdir -p "$HOME"
    "$tmp/venv/bin/python" - "$tmp" <<'PY' || exit
import sys
from pathlib import Path

import labshelf as ls

root = Path(sys.argv[1])
assert Path(ls.__file__).is_relative_to(root / "venv"), ls.__file__
ls.init(str(root / "store"), name="minimums")
table = root / "counts.csv"
table.write_text("well,od\nA1,0.1\nA2,0.2\n")
saved = ls.Artifact(table, key="tables/counts.csv", description="minimums").save()
found = ls.Artifact.filter(key="tables/counts.csv").one()
assert found.uid == saved.uid, (found.uid, saved.uid)
assert ls.Artifact.filter(description__icontains="minim").count() == 1
frame = found.load()
assert list(frame["od"]) == [0.1, 0.2], frame
frame.to_parquet(root / "counts.parquet")
parquet = ls.Artifact(root / "counts.parquet", key="tables/counts.parquet").save()
assert parquet.load().equals(frame)
graph = parquet.view_lineage(root / "lineage.png")
assert (root / "lineage.png").stat().st_size > 0
print("minimums: save, query, csv/parquet load and a lineage render work")
PY
    # (set -e does not apply in a subshell whose status is tested: each step says so itself)
    "$tmp/venv/bin/labshelf" --help >/dev/null || exit
    "$tmp/venv/bin/labshelf" gui --smoke-test || exit
  ) || rc=$?
  "$tmp/venv/bin/python" -c 'import importlib.metadata as m; print("  installed:", ", ".join(f"{d} {m.version(d)}" for d in ("sqlalchemy", "alembic", "pandas", "numpy", "pyarrow", "PySide6-Essentials", "psycopg", "universal-pathlib", "fsspec", "pygraphviz", "pillow")))' >&2 || true
  rm -rf "$tmp"
  [[ "$rc" -eq 0 ]] || die "labshelf does not work with the minimum versions (exit $rc)"
  say "the minimum versions install and work"
}

# The names in pyproject's [project] dependencies, as an alternation for grep.
python_direct_names() {
  "$PY" - <<'PY'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("|".join(re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].replace("-", "[-_]") for d in deps))
PY
}

# mypy on core/ and app/ with pyproject's [tool.mypy] (its stated strictness); errors per folder.
# ./dev.sh test runs the same check (staged package, zero errors expected).
cmd_typecheck() {
  cmd_setup
  stage_package
  local out rc=0
  out="$(mktemp)"
  # Reported with the repository's paths (build/pkg/labshelf/app/x.py -> app/x.py, ...).
  "$VENV/bin/mypy" --config-file pyproject.toml "$@" -p labshelf 2>&1 \
    | sed -E -e 's#^build/pkg/labshelf/(app|resources)/#\1/#' -e 's#^build/pkg/labshelf/#core/#' \
      >"$out" || true
  cat "$out"
  grep -qE '^Success:' "$out" || rc=1
  say "mypy errors by folder:"
  awk -F/ '/: error:/ { n[$1 "/"]++ } END { for (d in n) printf "  %-10s %d\n", d, n[d] }' \
    "$out" | sort >&2
  rm -f "$out"
  return "$rc"
}

usage() {
  cat <<'EOF'
usage: ./dev.sh COMMAND [ARGS]

  setup          install system packages (as root) and the .venv; fast when nothing changed
  run            set up, then open labshelf on the default instance (with demo data)
  test [ARGS]    set up, then import contracts, ruff and pytest (ARGS go to pytest)
  bench [ARGS]   set up, then run every tests/benchmarks/bench_*.py
  build [ARGS]   set up, then build the PyInstaller bundle from build.spec
  lock [ARGS]    update requirements.lock from pyproject.toml (ARGS go to uv pip compile,
                 e.g. --upgrade or --upgrade-package NAME); the next command syncs .venv
  check-minimums install the lowest versions pyproject.toml allows in a temp venv and
                 smoke-test labshelf with them
  typecheck [ARGS]  mypy (pyproject's [tool.mypy]) on core/ and app/; errors per folder
EOF
}

main() {
  local cmd="${1:-help}"
  [[ $# -gt 0 ]] && shift
  case "$cmd" in
    setup) cmd_setup ;;
    run) cmd_run ;;
    test) cmd_test "$@" ;;
    bench) cmd_bench "$@" ;;
    build) cmd_build "$@" ;;
    lock) cmd_lock "$@" ;;
    check-minimums) cmd_check_minimums ;;
    typecheck) cmd_typecheck "$@" ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
