#!/usr/bin/env bash
# Copy a compare grid's finished cells, never weights, into the repository, in the
# grid's own layout, so the grid can continue on another machine:
#   scripts/collect_grid.sh GRID_DIR DEST_DIR       # e.g. compare-xtreme docs/results/xtreme
#   cp -r DEST_DIR GRID_DIR && robust-xlt compare --config ... --output-dir GRID_DIR
# A cell is copied only when it finished every stage (compare writes cells/<cell>.json
# last): its run without weights, attack, generalized matrix and log. A cell still
# training or attacked only in part is left out whole, log included: its later stages
# need the weights that stay behind, so on a new machine it starts over.
set -euo pipefail
grid=${1:?usage: $0 GRID_DIR DEST_DIR} dest=${2:?usage: $0 GRID_DIR DEST_DIR}
mkdir -p "$dest/cells" "$dest/logs"
[ -f "$grid/grid.json" ] && cp "$grid/grid.json" "$dest/"
copied=0 left=0
for record in "$grid"/cells/*.json; do
    [ -f "$record" ] || continue
    name=$(basename "$record" .json)
    run=$grid/runs/$name
    [ -f "$run/results.json" ] || { echo "skip $name: cells/$name.json without runs/$name/results.json" >&2; left=$((left + 1)); continue; }
    # A stage deleted to be redone leaves the record of the earlier finish behind.
    if { [ -d "$grid/attacks/$name" ] && [ ! -f "$grid/attacks/$name/attack.json" ]; } ||
        { [ -d "$grid/generalized/$name" ] && [ ! -f "$grid/generalized/$name/results.json" ]; }; then
        echo "skip $name: a stage is being redone" >&2; left=$((left + 1)); continue
    fi
    mkdir -p "$dest/runs/$name"
    cp "$run"/config.toml "$run"/metrics.jsonl "$run"/splits.json "$run"/results.json "$run"/results.md "$run"/predictions-*.jsonl "$dest/runs/$name/"
    for kind in attacks generalized; do
        [ -d "$grid/$kind/$name" ] || continue
        mkdir -p "$dest/$kind/$name"
        find "$grid/$kind/$name" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$dest/$kind/$name/" \;
    done
    cp "$record" "$dest/cells/"
    [ -f "$grid/logs/$name.log" ] && cp "$grid/logs/$name.log" "$dest/logs/"
    copied=$((copied + 1))
done
for run in "$grid"/runs/*/; do
    [ -d "$run" ] || continue
    name=$(basename "$run")
    [ -f "$grid/cells/$name.json" ] || { echo "not finished, not copied: $name"; left=$((left + 1)); }
done
if [ -d "$grid/report" ]; then
    mkdir -p "$dest/report"
    cp -r "$grid/report"/. "$dest/report/"
fi
echo "copied $copied finished cells into $dest; $left left out"
