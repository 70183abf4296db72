#!/usr/bin/env bash
# Measure a built bundle: its size on disk and its start-up time to a rendered window.
#   bash packaging/measure_bundle.sh [BUNDLE_DIR] [RUNS]     (defaults: dist/scoat-followup 3)
# Start-up time: wall-clock seconds from launching `scoat-app --screenshot /tmp/bundle.png`
# (empty app data, settings and log folders in a temporary directory: no patients to load)
# until the program exits after saving the window. Without a display an Xvfb server is started
# once beforehand, so its own start is not counted. Run 1 is the first start after the build
# (files partly in the page cache); the others are warm starts. `scoat --version` is timed the
# same way. SCOAT_COMPARE_VENV=.venv also times that venv's scoat-app for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-dist/scoat-followup}
RUNS=${2:-3}
SHOT=${SCOAT_SCREENSHOT:-/tmp/bundle.png}
[ -x "$BUNDLE/scoat-app" ] || { echo "no bundle at $BUNDLE (run packaging/build_bundle.sh)" >&2; exit 1; }

echo "bundle: $BUNDLE"
echo "size on disk: $(du -sh "$BUNDLE" | cut -f1) ($(du -sm "$BUNDLE" | cut -f1) MiB, $(find "$BUNDLE" -type f | wc -l) files)"
echo "largest parts:"
du -sm "$BUNDLE"/_internal/* "$BUNDLE"/scoat "$BUNDLE"/scoat-app 2>/dev/null | sort -rn | head -8 \
  | awk '{printf "  %6d MiB  %s\n", $1, $2}'

tmp=$(mktemp -d)
xvfb_pid=""
cleanup() { [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if [ -z "${DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
  Xvfb -displayfd 3 -screen 0 1600x1000x24 -nolisten tcp 3>"$tmp/display" 2>/dev/null &
  xvfb_pid=$!
  for _ in $(seq 50); do [ -s "$tmp/display" ] && break; sleep 0.1; done
  export DISPLAY=":$(cat "$tmp/display")"
  echo "display: Xvfb $DISPLAY"
else
  echo "display: ${DISPLAY:-QT_QPA_PLATFORM=$QT_QPA_PLATFORM}"
fi
export SCOAT_APP_DATA="$tmp/appdata" XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config"

seconds() {  # run "$@" and print its wall-clock seconds; fail loudly if it fails
  local start end
  start=$(date +%s.%N)
  "$@" >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; echo "failed: $*" >&2; exit 1; }
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

for i in $(seq "$RUNS"); do
  rm -f "$SHOT"
  t=$(seconds "$BUNDLE/scoat-app" --screenshot "$SHOT")
  [ -s "$SHOT" ] || { echo "no screenshot written" >&2; exit 1; }
  echo "start-up to screenshot exit, run $i: $t s"
done
echo "screenshot: $SHOT"
for i in $(seq "$RUNS"); do
  echo "scoat --version, run $i: $(seconds "$BUNDLE/scoat" --version) s"
done
echo "scoat --version says: $(cat "$tmp/out")"
if [ -n "${SCOAT_COMPARE_VENV:-}" ]; then
  for i in $(seq "$RUNS"); do
    echo "for comparison, $SCOAT_COMPARE_VENV/bin/scoat-app, run $i:" \
      "$(seconds "$SCOAT_COMPARE_VENV/bin/scoat-app" --screenshot "$tmp/venv.png") s"
  done
fi
