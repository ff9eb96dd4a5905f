#!/usr/bin/env bash
# Copy a compare grid's finished outputs, never weights, into the repository, in the
# grid's own layout, so the grid can continue on another machine:
#   scripts/collect_grid.sh GRID_DIR DEST_DIR       # e.g. compare-xtreme docs/results/xtreme
#   cp -r DEST_DIR GRID_DIR && robust-xlt compare --config ... --output-dir GRID_DIR
# compare skips a cell whose results.json, attack.json and generalized results.json
# exist, so the copied cells are not run again (their best/ is not needed any more).
# A run without results.json (cut off) is not copied: on a new machine it starts over.
set -euo pipefail
grid=$1 dest=$2
mkdir -p "$dest"
for name in grid.json; do
    [ -f "$grid/$name" ] && cp "$grid/$name" "$dest/"
done
for sub in cells logs; do
    [ -d "$grid/$sub" ] && mkdir -p "$dest/$sub" && cp "$grid/$sub"/* "$dest/$sub/"
done
for run in "$grid"/runs/*/; do
    [ -d "$run" ] || continue
    name=$(basename "$run")
    [ -f "$run/results.json" ] || { echo "skip runs/$name (not finished)"; continue; }
    mkdir -p "$dest/runs/$name"
    cp "$run"/config.toml "$run"/metrics.jsonl "$run"/splits.json "$run"/results.json "$run"/results.md "$run"/predictions-*.jsonl "$dest/runs/$name/"
    echo "copied runs/$name"
done
for kind in attacks generalized; do
    for out in "$grid/$kind"/*/; do
        [ -d "$out" ] || continue
        name=$(basename "$out")
        done_file=$([ "$kind" = attacks ] && echo attack.json || echo results.json)
        [ -f "$out/$done_file" ] || { echo "skip $kind/$name (not finished)"; continue; }
        mkdir -p "$dest/$kind/$name"
        find "$out" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dest/$kind/$name/" \;
        echo "copied $kind/$name"
    done
done
if [ -d "$grid/report" ]; then
    mkdir -p "$dest/report"
    cp -r "$grid/report"/. "$dest/report/"
fi
