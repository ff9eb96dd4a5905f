"""Markdown table comparing runs of `robust-xlt train` (their results.json files).

    python scripts/compare_runs.py [--metric NAME] RUN_DIR [RUN_DIR ...]

One row per run (method), one column per language, then the averages. Beside each
score of a proportion metric (accuracy, EM) it gives a 95% normal-approximation
interval half-width over that language's examples, so a reader can tell which
differences between methods are beyond sampling noise of the evaluation set alone
(seed noise comes on top).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def half_width(score: float, count: float) -> float:
    p = score / 100
    return 196 * math.sqrt(max(p * (1 - p), 0.0) / count) if count else float("nan")


PROPORTIONS = {"accuracy", "exact_match", "lang_exact_match"}


def main(args: list[str]) -> int:
    metric = None
    if args[:1] == ["--metric"]:
        metric, args = args[1], args[2:]
    runs = [json.loads((Path(p) / "results.json").read_text(encoding="utf-8")) for p in args]
    metric = metric or runs[0]["metrics"][0]
    langs = list(runs[0]["languages"])
    header = ["method", *langs, "average", "target avg", "low-resource avg"]
    note = " (± 95% interval over the evaluation examples of one language)" if metric in PROPORTIONS else ""
    print(f"{metric}{note}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for run in runs:
        cells = ["+".join(run["method"])]
        for lang in langs:
            result = run["languages"][lang]
            score, count = result[metric], result["count"]
            interval = f" ±{half_width(score, count):.1f}" if metric in PROPORTIONS else ""
            cells.append(f"{score:.1f}{interval}")
        for key in ("average", "target_average", "low_resource_average"):
            value = run.get(key, {})
            cells.append(f"{value[metric]:.1f}" if isinstance(value, dict) and metric in value else "–")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
