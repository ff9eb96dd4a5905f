#!/usr/bin/env bash
# benches/bench_adversary.py on a lent GPU machine: the adversary issue's "at least 5x
# the per-example reference" is a claim about accelerators, where the reference's
# one-word batches leave the device idle (README, Performance).
#
# The GPU machine reaches no registry and no hub and takes 64 MiB along, so `prepare`
# (here) fills the ignored folder .device/ with what the run needs: an abi3 wheel of
# robust-xlt (any CPython >= 3.10), the pure-Python test wheels, the shape of e5-small
# (config and tokenizer, no weights: the bench draws them at seed 0) and the bench's
# data files from the unpacked shared data. `run` (there) installs them beside the
# machine's own torch and transformers and runs the bench on cuda.
#
#   scripts/device_bench_adversary.sh prepare /tmp/xlt-data     # here, about 3 min
#   device run: carry [".device"], command "scripts/device_bench_adversary.sh run",
#               timeout_s 480; the bench's JSON and log come back under $OUT
#
# A random model's success rates describe that random model, the same one on both
# sides; the speed ratio is the measurement. Read the fp32 row against the reference:
# a random classifier's class scores differ by little, and a bf16 search rounds much
# of that away (on this CPU, 2026-12-02, load 3: `run` with ROBUST_XLT_BENCH_DEVICE=cpu
# broke 7 of 22 pairs in 27.7 s by the reference, 5 in 35.4 s by the bf16 search,
# 7 in 21.6 s by the fp32 one), as it did not on the trained model of the README.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.device

prepare() {
    local data=${1:?"usage: $0 prepare DATA (the unpacked ../shared/data archives)"}
    local py=${PYTHON:-python3}
    rm -rf "$DEST" && mkdir -p "$DEST/wheels" "$DEST/e5-small-shape"
    grep -qxF "/$DEST/" .git/info/exclude 2>/dev/null || echo "/$DEST/" >> .git/info/exclude
    # abi3: the device's Python version is not known here.
    maturin build --release --features pyo3/abi3-py310 -o "$DEST/wheels"
    local pins=()
    for name in pytest pluggy iniconfig packaging Pygments pytest-benchmark py-cpuinfo2 stopwordsiso tomli_w; do
        pins+=("$(grep -i "^$name==" .ci/requirements.lock)") || { echo "$name is not pinned in .ci/requirements.lock" >&2; exit 1; }
    done
    "$py" -m pip download --quiet --no-deps --only-binary :all: -d "$DEST/wheels" "${pins[@]}"
    local model
    model=$("$py" -c 'from robust_xlt.models import resolve_model; print(resolve_model("e5-small"))')
    cp "$model/config.json" "$model/tokenizer.json" "$model/tokenizer_config.json" "$DEST/e5-small-shape/"
    for file in xnli/dev-en.tsv lexicons/omw/wikt/wn-wikt-eng.tab lexicons/muse/en-de.txt; do
        mkdir -p "$DEST/data/$(dirname "$file")"
        cp "$data/$file" "$DEST/data/$file"
    done
    du -sh "$DEST"
}

run() {
    local py=${PYTHON:-python3} out=${OUT:-/tmp/bench-out} site=/tmp/bench-site
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    # Beside the machine's own torch and transformers, which the wheels do not replace.
    rm -rf "$site" && "$py" -m pip install --quiet --no-index --no-deps --target "$site" "$DEST"/wheels/*.whl
    mkdir -p "$out"
    ROBUST_XLT_BENCH_DEVICE=${ROBUST_XLT_BENCH_DEVICE:-cuda} ROBUST_XLT_ATTACK_MODEL="$PWD/$DEST/e5-small-shape" \
        ROBUST_XLT_DATA="$PWD/$DEST/data" PYTHONPATH="$site" PYTHONUNBUFFERED=1 \
        "$py" -m pytest benches/bench_adversary.py --benchmark-only -p no:cacheprovider \
        --benchmark-json "$out/bench_adversary.json" 2>&1 | tee "$out/bench_adversary.log"
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) run ;;
    *) echo "usage: $0 prepare DATA | run" >&2; exit 2 ;;
esac
