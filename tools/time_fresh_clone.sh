#!/usr/bin/env bash
# Times the README's test command on a fresh clone: set-up (new .venv) and the suite, separately.
# The clone sits beside this checkout so ../shared/data is found as in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d "$(dirname "$PWD")/fresh-clone.XXXX")
trap 'rm -rf "$dest"' EXIT
git clone -q . "$dest"
cd "$dest"
t0=$(date +%s.%N)
bash tools/dev.sh setup >/dev/null 2>&1
t1=$(date +%s.%N)
bash tools/dev.sh test -q -p no:cacheprovider -rf | grep -E "^FAILED|passed|failed"
t2=$(date +%s.%N)
printf 'set-up (fresh .venv): %.0f s\ntests (ruff + import rule + pytest): %.0f s\n' \
  "$(python3 -c "print($t1 - $t0)")" "$(python3 -c "print($t2 - $t1)")"
