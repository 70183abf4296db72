#!/usr/bin/env bash
# Build the one-folder desktop bundle with PyInstaller and print its size:
#   dist/scoat-followup/scoat-app   the desktop app (scoat-app.exe on Windows)
#   dist/scoat-followup/scoat       the command line (same code, chosen by the program name)
#   dist/SCOAT Follow-up.app        on macOS, the app bundle
# Usage: bash packaging/build_bundle.sh
# Environment:
#   SCOAT_BUNDLE_VENV  build venv (default build/venv-bundle): created on first use with the
#                      project's dependencies, the GUI extra and PyInstaller; an existing venv
#                      (for example .venv) is used as it is, after adding PyInstaller.
#   SCOAT_TORCH=cpu|cuda  torch build for a new venv on Linux (default cpu: the CUDA build makes
#                      a bundle of several GB); macOS and Windows take PyPI's default build.
#   PYTHON             interpreter for a new venv (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${SCOAT_BUNDLE_VENV:-build/venv-bundle}
TORCH_VERSION=$(sed -n 's/^TORCH_VERSION=//p' tools/dev.sh)
PYINSTALLER="pyinstaller>=6.10"

vpy() {
  if [ -x "$VENV/bin/python" ]; then "$VENV/bin/python" "$@"; else "$VENV/Scripts/python.exe" "$@"; fi
}

if [ ! -x "$VENV/bin/python" ] && [ ! -x "$VENV/Scripts/python.exe" ]; then
  echo "[bundle] creating $VENV" >&2
  "$PY" -m venv "$VENV"
  if [ "$(uname -s)" = Linux ] && [ "${SCOAT_TORCH:-cpu}" = cpu ]; then
    echo "[bundle] installing torch $TORCH_VERSION (CPU build)" >&2
    vpy -m pip install -q "torch==$TORCH_VERSION+cpu" 2>/dev/null \
      || vpy -m pip install -q "torch==$TORCH_VERSION" --index-url https://download.pytorch.org/whl/cpu
  fi
  echo "[bundle] installing the dependencies" >&2
  vpy -m pip install -q ".[gui]"
fi
vpy -m pip install -q "$PYINSTALLER"

echo "[bundle] running PyInstaller (several minutes)" >&2
start=$(date +%s)
vpy -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/scoat-followup.spec
echo "[bundle] built in $(( $(date +%s) - start )) s" >&2

for target in dist/scoat-followup "dist/SCOAT Follow-up.app"; do
  [ -e "$target" ] && echo "bundle size: $(du -sh "$target" | cut -f1)  $target"
done
exit 0
