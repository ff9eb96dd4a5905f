#!/usr/bin/env bash
# The real CPU runs behind docs/results.md: e5-small, standard against rs-da, adv
# and codeswitch, on the shared XNLI and TyDiQA-GoldP data. Usage:
#   scripts/real_runs.sh xnli|tydiqa DATA_DIR OUT_DIR [METHOD ...]
# DATA_DIR holds the unpacked ../shared/data archives (xnli/, tydiqa-goldp/, lexicons/).
set -euo pipefail
task=$1 data=$2 out=$3
shift 3
methods=("${@:-standard rs-da adv codeswitch}")
read -r -a methods <<< "${methods[*]}"
threads=${THREADS:-1}
seed=${SEED:-0}
lexicon=$(ls "$data"/lexicons/omw/wikt/*.tab "$data"/lexicons/muse/*.txt | paste -sd, -)

for method in "${methods[@]}"; do
    run="$out/$task-$method-seed$seed"
    case $task in
    xnli)
        # Train on the English rows of the first half (415 premises, 1,245 pairs);
        # evaluate all 15 languages on the first 400 rows of the other half.
        args=(--task xnli --train-data "$data/xnli/dev-{lang}.tsv" --train-fraction 0.5
              --eval-data "$data/xnli/dev-{lang}.tsv"
              --eval-langs ar,bg,de,el,es,fr,hi,ru,sw,th,tr,ur,vi,zh
              --max-eval-examples 400 --epochs 2 --batch-size 16 --lr 3e-5 --max-length 128)
        ;;
    tydiqa)
        # Train on the first 400 English questions; the English dev and evaluation
        # set is the first 200 of the held-out last fifth; evaluate the first 200
        # questions of ko and sw (their train files, never trained on).
        args=(--task qa --train-data "$data/tydiqa-goldp/tydiqa.goldp.en.train.json"
              --train-fraction 0.8 --max-train-examples 400
              --eval-data "$data/tydiqa-goldp/tydiqa.goldp.{lang}.train.json"
              --eval-langs ko,sw --low-resource-langs sw
              --max-eval-examples 200 --epochs 2 --batch-size 16 --lr 3e-5
              --max-length 256 --qa-overlap 64)
        ;;
    *) echo "unknown task $task" >&2; exit 2 ;;
    esac
    echo "== $task $method -> $run"
    robust-xlt train "${args[@]}" --method "$method" --lexicon "$lexicon" \
        --seed "$seed" --threads "$threads" --output-dir "$run" --overwrite
done
