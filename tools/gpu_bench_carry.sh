#!/usr/bin/env bash
# Prepares what the lent GPU machine needs to run benchmarks/bench_analysis.py on the real RICORD
# exam, and prints the `run` call. The GPU image has torch, scipy and scikit-image but not
# pydicom or its JPEG Lossless decoder: they travel as Python 3.12 wheels in .whl/ (git-ignored
# locally through .git/info/exclude), the exam in .gpu_data/ (51 MB; together under the 64 MiB
# a call may carry). Nothing here runs on the GPU itself.
set -euo pipefail
cd "$(dirname "$0")/.."
for d in /.whl/ /.gpu_data/; do
  grep -qxF "$d" .git/info/exclude || echo "$d" >> .git/info/exclude
done
rm -rf .whl && mkdir -p .whl .gpu_data
platforms=()
for p in manylinux_2_34_x86_64 manylinux_2_31_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
         manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
  platforms+=(--platform "$p")
done
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d .whl \
  pydicom==3.0.2 pylibjpeg==2.1.0 pylibjpeg-libjpeg==2.5.0
src=$(.venv/bin/python -c "from scoat_core.shared_data import shared_dataset as s; print(s('ricord-covid-chest-ct') or '')")
if [ -n "$src" ]; then
  rm -rf .gpu_data/ricord-covid-chest-ct && cp -r "$src" .gpu_data/ricord-covid-chest-ct
fi
du -sh .whl .gpu_data
cat <<'CMD'
run(carry=[".whl", ".gpu_data"], timeout_s=420, command=
 "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade
  --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit;
  export SCOAT_SHARED_DATA=$PWD/.gpu_data PYTHONUNBUFFERED=1;
  python3 benchmarks/bench_analysis.py --device cuda --json $OUT/analysis_cuda.json")
CMD
