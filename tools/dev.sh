#!/usr/bin/env bash
# One entry point for a fresh clone: sets up .venv (idempotent) and then runs the app or the tests.
#   bash tools/dev.sh run [ARGS...]   set up, then run the main job: the app with the demo patient
#                                     (`scoat-app ARGS` with ARGS; `scoat CMD ...` for a CLI command;
#                                     `scoat demo` when there is no display)
#   bash tools/dev.sh test [PYTEST ARGS...]   set up, then run the test suite
#   bash tools/dev.sh setup           set up only
# Environment: PYTHON (interpreter, default python3), SCOAT_VENV (default .venv),
#   SCOAT_TORCH=auto|cpu|cuda|skip   which torch build to install (auto: CUDA only if nvidia-smi works).
#   SCOAT_SYSTEM_LIBS=install|check   on Linux, the system libraries Qt's xcb plugin lacks: installed
#                                     with apt-get when root (default), else the command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${SCOAT_VENV:-.venv}
TORCH_VERSION=2.13.0
STAMP="$VENV/.scoat-setup-stamp"

want_stamp() { cat pyproject.toml tools/dev.sh | sha256sum | cut -c1-16; }

install_torch() {
  local pip="$VENV/bin/python -m pip"
  local mode=${SCOAT_TORCH:-auto}
  if [ "$mode" = skip ] || "$VENV/bin/python" -c "import torch" 2>/dev/null; then return; fi
  if [ "$mode" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then mode=cuda; else mode=cpu; fi
  fi
  echo "[setup] installing torch ($mode build)" >&2
  if [ "$mode" = cuda ] || [ "$(uname -s)" != Linux ]; then
    # PyPI's Linux wheel is the CUDA build; on macOS and Windows PyPI's wheel is the CPU/MPS build.
    $pip install -q "torch==$TORCH_VERSION"
  else
    # CPU-only Linux: never pull the multi-GB CUDA wheel. Take a local +cpu wheel when pip's
    # find-links has one, else PyTorch's CPU index.
    $pip install -q "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || $pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
}

check_qt_libs() {
  # The libxcb/xkbcommon libraries Qt's xcb plugin loads come from the system, not pip. Never
  # fails: the tests run offscreen without them.
  [ "$(uname -s)" = Linux ] || return 0
  local pkgs
  pkgs=$("$VENV/bin/python" -c 'from scoat_core.diagnostics import apt_packages as a, missing_qt_libraries as m; print(" ".join(a(m())))' 2>/dev/null) || return 0
  [ -n "$pkgs" ] || return 0
  if [ "$(id -u)" = 0 ] && [ "${SCOAT_SYSTEM_LIBS:-install}" = install ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing the system libraries the app's display needs: $pkgs" >&2
    # shellcheck disable=SC2086  # one word per package
    # bounded: a held dpkg lock or a slow mirror must not stall set-up
    if DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q $pkgs >/dev/null 2>&1 \
       || { timeout 300 apt-get update -q >/dev/null 2>&1 \
            && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q $pkgs \
               >/dev/null 2>&1; }; then
      return 0
    fi
    echo "[setup] apt-get could not install them." >&2
  fi
  echo "[setup] the desktop app needs system libraries; install them with: sudo apt-get install -y $pkgs" >&2
}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV" >&2
    "$PY" -m venv "$VENV"
  fi
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(want_stamp)" ]; then check_qt_libs; return; fi
  install_torch
  echo "[setup] installing scoat-followup and its dependencies" >&2
  "$VENV/bin/python" -m pip install -q -e ".[gui,dev]"
  want_stamp > "$STAMP"
  check_qt_libs
}

cmd=${1:-run}
[ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup ;;
  run)
    setup
    case "${1:-}" in
      info|phantom|demo|analyze|analyse|timeline|train|evaluate|model-info|--help|--version)
        exec "$VENV/bin/scoat" "$@" ;;  # a command-line job
    esac
    if [ $# -eq 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ] \
       && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      echo "[run] no display: running the command-line demo instead of the app" >&2
      exec "$VENV/bin/scoat" demo
    fi
    if [ $# -eq 0 ]; then set -- --demo; fi
    exec "$VENV/bin/scoat-app" "$@" ;;
  test)
    setup
    export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
    "$VENV/bin/ruff" check .
    "$VENV/bin/lint-imports"
    exec "$VENV/bin/python" -m pytest "$@" ;;
  *) echo "usage: bash tools/dev.sh run|test|setup [ARGS...]" >&2; exit 2 ;;
esac
