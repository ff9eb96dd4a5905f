#!/usr/bin/env bash
# The real CPU runs behind docs/results.md: e5-small, standard against rs-da, adv
# and codeswitch, on the shared XNLI (trained on MultiNLI) and TyDiQA-GoldP data.
# Usage:
#   scripts/real_runs.sh xnli|tydiqa DATA_DIR OUT_DIR [METHOD ...]
# A METHOD may name a curriculum after a colon: adv-sub:linear trains adv-sub with
# --curriculum linear into OUT_DIR/TASK-adv-sub+linear-seedN.
# DATA_DIR holds the unpacked ../shared/data archives (english-train/, xnli/,
# tydiqa-goldp/, lexicons/). Run it again after a kill: finished runs are kept,
# cut-off runs resume from their last checkpoint.
set -euo pipefail
task=$1 data=$2 out=$3
shift 3
methods=("${@:-standard rs-da adv codeswitch}")
read -r -a methods <<< "${methods[*]}"
threads=${THREADS:-2}
seed=${SEED:-0}
lexicon=$(ls "$data"/lexicons/omw/wikt/*.tab "$data"/lexicons/muse/*.txt | paste -sd, -)

for spec in "${methods[@]}"; do
    method=${spec%%:*}
    curriculum=none
    [[ $spec == *:* ]] && curriculum=${spec#*:}
    name=$method
    [ "$curriculum" != none ] && name="$method+$curriculum"
    run="$out/$task-$name-seed$seed"
    case $task in
    xnli)
        # XTREME's setting: train on MultiNLI (the first 3,000 training pairs, one
        # epoch of batch 32), select on 600 MultiNLI dev-matched pairs, evaluate the
        # first 600 XNLI dev rows of all 15 languages (no training text overlaps them).
        args=(--task xnli --train-data "$data/english-train/mnli/train-10k.tsv" --max-train-examples 3000
              --dev-data "$data/english-train/mnli/dev-matched-5k-tokenized.tsv"
              --eval-data "$data/xnli/dev-{lang}.tsv"
              --eval-langs ar,bg,de,el,es,fr,hi,ru,sw,th,tr,ur,vi,zh
              --max-eval-examples 600 --epochs 1 --eval-every 47 --batch-size 32 --lr 1e-4 --max-length 128)
        ;;
    tydiqa)
        # Train on 600 English questions of the first 80% of the English file; the
        # English dev set is 200 questions of a tenth of its passages, the English
        # evaluation set 200 of the rest; ko and sw are evaluated on the first 200
        # questions of their files (never trained on).
        args=(--task qa --train-data "$data/tydiqa-goldp/tydiqa.goldp.en.train.json"
              --train-fraction 0.8 --max-train-examples 600
              --eval-data "$data/tydiqa-goldp/tydiqa.goldp.{lang}.train.json"
              --eval-langs ko,sw --low-resource-langs sw
              --max-eval-examples 200 --epochs 1 --eval-every 19 --batch-size 16 --lr 1e-4
              --max-length 256 --qa-overlap 64)
        ;;
    *) echo "unknown task $task" >&2; exit 2 ;;
    esac
    if [ -f "$run/results.json" ]; then
        echo "== $task $method: finished in $run"
        continue
    fi
    resume=()
    [ -d "$run" ] && resume=(--resume)
    echo "== $task $method -> $run ${resume[*]}"
    robust-xlt train "${args[@]}" --method "$method" --curriculum "$curriculum" --lexicon "$lexicon" --freeze-embeddings \
        --seed "$seed" --threads "$threads" --output-dir "$run" "${resume[@]}"
done
