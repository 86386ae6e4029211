#!/usr/bin/env bash
# labshelf developer entry point: ./dev.sh {setup|run|test|bench|build|help}
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.labshelf-pyproject.sha256"

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

setup_venv() {
  if ! [[ -x "$PY" ]] || ! "$PY" -c '' 2>/dev/null; then
    create_venv
  fi
  local want have=""
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  [[ -f "$STAMP" ]] && have="$(<"$STAMP")"
  [[ "$want" == "$have" ]] && return 0
  say "new or changed pyproject.toml: pip install -e '.[dev]' (log: .venv/pip-install.log)"
  if ! "$PY" -m pip install -e '.[dev]' >"$VENV/pip-install.log" 2>&1; then
    tail -n 30 "$VENV/pip-install.log" >&2
    die "pip install failed; full log in .venv/pip-install.log"
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

cmd_test() {
  cmd_setup
  local failed=()
  say "lint-imports"
  stage_package
  PYTHONPATH="$ROOT/build/pkg" "$VENV/bin/lint-imports" || failed+=("lint-imports")
  say "ruff check app core tests"
  "$VENV/bin/ruff" check app core tests || failed+=("ruff")
  say "ruff format --check app core tests"
  "$VENV/bin/ruff" format --check app core tests || failed+=("ruff format")
  # CI also builds the PyInstaller bundle and smoke-tests it (tests/bundle, a few minutes).
  local extra=()
  [[ "${CI:-}" == true ]] && extra+=(--bundle)
  say "pytest tests ${extra[*]} $*"
  local rc=0
  QT_QPA_PLATFORM=offscreen "$PY" -m pytest tests "${extra[@]}" "$@" || rc=$?
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

usage() {
  cat <<'EOF'
usage: ./dev.sh COMMAND [ARGS]

  setup          install system packages (as root) and the .venv; fast when nothing changed
  run            set up, then open labshelf on the default instance (with demo data)
  test [ARGS]    set up, then import contracts, ruff and pytest (ARGS go to pytest)
  bench [ARGS]   set up, then run every tests/benchmarks/bench_*.py
  build [ARGS]   set up, then build the PyInstaller bundle from build.spec
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
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
