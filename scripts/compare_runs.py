"""Markdown tables comparing runs of `robust-xlt train` (their results.json files).

    python scripts/compare_runs.py [--metric NAME] [--paired] [--costs] RUN_DIR [RUN_DIR ...]

One row per run (method), one column per language, then the averages. Beside each
score of a proportion metric (accuracy, EM) it gives a 95% normal-approximation
interval half-width over that language's examples, so a reader can tell which
differences between methods are beyond sampling noise of the evaluation set alone
(seed noise comes on top).

``--paired`` adds, for each run after the first, its difference from the first run
on the same evaluation examples (read from the runs' predictions-{lang}.jsonl) over
all target languages and over the low-resource ones, with a 95% paired bootstrap
interval over examples (scipy.stats.bootstrap) and a paired sign-flip permutation
p-value (scipy.stats.permutation_test). One seed a method: seed variance is not in
these intervals.

``--costs`` adds each run's measured strength and cost from its metrics.jsonl and
results.json: the text methods' effective edit rates (share of all words changed,
share with no candidate, share eligible) and the median steady step time (warm-up,
evaluations and checkpoints excluded), with its ratio to the first run's.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np


def half_width(score: float, count: float) -> float:
    p = score / 100
    return 196 * math.sqrt(max(p * (1 - p), 0.0) / count) if count else float("nan")


PROPORTIONS = {"accuracy", "exact_match", "lang_exact_match"}


def example_scores(run_dir: Path, langs: list[str], metric: str) -> dict[tuple[str, str], float]:
    """(lang, example id) -> the example's score in [0, 100] from its predictions file."""
    out = {}
    for lang in langs:
        for line in (run_dir / f"predictions-{lang}.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            value = float(record["correct"]) if metric == "accuracy" else float(record[metric])
            out[(lang, record["id"])] = 100.0 * value
    return out


def paired(dirs: list[Path], runs: list[dict], metric: str) -> None:
    from scipy import stats

    base = runs[0]
    groups = {"target languages": base["target_langs"], "low-resource languages": base["low_resource_langs"]}
    print(f"\npaired difference from {'+'.join(base['method'])} ({metric}, points; 95% bootstrap interval over examples; permutation p)\n")
    print("| method | " + " | ".join(groups) + " |")
    print("|---|" + "---|" * len(groups))
    for run_dir, run in zip(dirs[1:], runs[1:], strict=True):
        cells = ["+".join(run["method"])]
        for langs in groups.values():
            a = example_scores(run_dir, langs, metric)
            b = example_scores(dirs[0], langs, metric)
            keys = sorted(set(a) & set(b))
            x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
            diff = float(np.mean(x - y))

            def mean_diff(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
                return np.mean(u - v, axis=axis)

            ci = stats.bootstrap((x, y), mean_diff, paired=True, n_resamples=2000, random_state=0).confidence_interval
            p = stats.permutation_test((x, y), mean_diff, permutation_type="samples", n_resamples=2000, random_state=0).pvalue
            shown = f"< {1 / 2001:.4f}" if p <= 1 / 2001 + 1e-12 else f"{p:.3f}"  # the smallest p of 2,000 resamples
            cells.append(f"{diff:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}], p {shown} (n {len(keys)})")
        print("| " + " | ".join(cells) + " |")


def costs(dirs: list[Path], runs: list[dict]) -> None:
    medians = []
    for run_dir in dirs:
        steps = [
            r["s_per_step"]
            for r in map(json.loads, (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines())
            if r.get("event") == "train" and r.get("s_per_step") is not None
        ]
        medians.append(float(np.median(steps)) if steps else float("nan"))
    print("\nstrength and cost (edit rates: share of all words of the training texts, over the run)\n")
    print("| method | changed | no candidate | eligible | changed of eligible | s/step (median) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for run, median in zip(runs, medians, strict=True):
        rates = run.get("edit_rates") or {}
        if rates:
            cells = [
                " + ".join(f"{mode} {100 * r[key]:.1f}%" for mode, r in rates.items())
                for key in ("changed_share", "no_candidate_share", "eligible_share", "changed_of_eligible")
            ]
        else:
            cells = ["–"] * 4
        print(f"| {'+'.join(run['method'])} | " + " | ".join(cells) + f" | {median:.2f} | {median / medians[0]:.2f}x |")


def main(args: list[str]) -> int:
    metric = None
    if args[:1] == ["--metric"]:
        metric, args = args[1], args[2:]
    with_paired, with_costs = "--paired" in args, "--costs" in args
    args = [a for a in args if a not in ("--paired", "--costs")]
    missing = [p for p in args if not (Path(p) / "results.json").is_file()]
    if missing:
        print(f"compare_runs: no results.json in {', '.join(missing)} (not a finished run)", file=sys.stderr)
        return 2
    runs = [json.loads((Path(p) / "results.json").read_text(encoding="utf-8")) for p in args]
    labels = ["+".join(run["method"]) for run in runs]
    if len(set(labels)) < len(labels):  # two settings of one method: name them by folder
        for run, folder in zip(runs, args, strict=True):
            run["method"] = [Path(folder).name]
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
    if with_paired:
        paired([Path(p) for p in args], runs, metric)
    if with_costs:
        costs([Path(p) for p in args], runs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
