"""One greedy search read at every budget against one search per budget, on a
trained model: are the records the same, and how much faster is the shared search?

    python scripts/shared_search_check.py RUN/best --data /tmp/xlt-data --lang en --rows 64

XNLI dev rows of one language, mixed mode into German (English for German rows) over
the MUSE en-de dictionary and the English and German Wiktionary wordnets, budgets
0, 0.1 and 0.2, torch on one thread; both ways in the same process, back to back.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import torch

from robust_xlt import load_lexicon
from robust_xlt.adversary import AttackConfig, attack, attack_budgets
from robust_xlt.tasks import InputSettings, get_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", help="a trained XNLI model folder (RUN/best)")
    parser.add_argument("--data", required=True, help="the unpacked shared data folder")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--rows", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = Path(args.data)
    task = get_task("xnli")
    model, tokenizer = task.load_model(args.model_dir)
    examples = task.load_file(data / "xnli" / f"dev-{args.lang}.tsv", args.lang)[: args.rows]
    lexicon = load_lexicon([data / "lexicons/muse/en-de.txt", data / "lexicons/omw/wikt/wn-wikt-eng.tab", data / "lexicons/omw/wikt/wn-wikt-deu.tab"])
    config = AttackConfig(mode="mixed", target_langs=("de",) if args.lang != "de" else ("en",))
    settings = InputSettings(max_length=128)
    budgets = (0.0, 0.1, 0.2)
    start = time.perf_counter()
    alone = {b: attack(task, model, tokenizer, examples, lexicon, dataclasses.replace(config, budget=b), settings=settings) for b in budgets}
    t_alone = time.perf_counter() - start
    start = time.perf_counter()
    shared = attack_budgets(task, model, tokenizer, examples, lexicon, budgets, config, settings=settings)
    t_shared = time.perf_counter() - start
    for b in budgets:
        a, s = alone[b], shared[b]
        same = sum((x.edits, x.success, x.queries) == (y.edits, y.success, y.queries) for x, y in zip(a.examples, s.examples, strict=True))
        print(
            f"budget {b:g}: per budget {a.summary.successes}/{a.summary.attacked} broken, {sum(r.queries for r in a.examples)} queries | "
            f"shared {s.summary.successes}/{s.summary.attacked}, {sum(r.queries for r in s.examples)} | identical records {same}/{len(examples)}"
        )
    print(f"time: a search per budget {t_alone:.1f} s, one shared search {t_shared:.1f} s ({t_alone / t_shared:.2f}x), 1-min load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
