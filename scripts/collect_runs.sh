#!/usr/bin/env bash
# Copy what a finished run produced, except weights, into the repository so it
# survives the machine: results, predictions, metrics, splits, config and the log.
#   scripts/collect_runs.sh RUNS_DIR DEST_DIR
# Only finished runs (results.json present) are copied; best/ and resume/ never are.
set -euo pipefail
runs=$1 dest=$2
mkdir -p "$dest"
for run in "$runs"/*/; do
    name=$(basename "$run")
    [ -f "$run/results.json" ] || { echo "skip $name (not finished)"; continue; }
    mkdir -p "$dest/$name"
    cp "$run"/config.toml "$run"/metrics.jsonl "$run"/splits.json "$run"/results.json "$run"/results.md "$dest/$name/"
    cp "$run"/predictions-*.jsonl "$dest/$name/"
    echo "copied $name"
done
for log in "$runs"/*.log "$runs"/*.json; do
    [ -f "$log" ] && cp "$log" "$dest/"
done
