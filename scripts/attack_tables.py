"""Markdown tables of robustness across runs: `robust-xlt attack` outputs (attack.json)
and `robust-xlt eval --generalized` outputs (results.json), one row per run.

    python scripts/attack_tables.py [--metric accuracy] [--generalized DIR ...] NAME=ATTACK_DIR ...

For each attack budget above 0: the metric under attack per language, with the clean
score (budget 0) first; then the attack success rate (share of the examples the
model had right that the adversary broke) and the mean share of words changed, per
language; then each language's lexicon coverage (share of its words with a
candidate), which bounds what the adversary can do there. With --generalized, the
same- and mixed-language averages of each run's matrix and its full matrix. With two
or more runs (accuracy), each run's paired difference from the first under attack.
The runs must have been attacked on the same rows (the same --max-eval-examples and
data) for the rows of a table to be comparable; the script checks the counts.
"""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path
from typing import Any


def _spec(spec: str) -> tuple[str, Path]:
    """NAME=DIR, or DIR named after itself."""
    name, _, folder = spec.partition("=")
    if not folder:
        name, folder = Path(spec).name, spec
    return name, Path(folder)


def _load(spec: str) -> tuple[str, dict[str, Any]]:
    name, folder = _spec(spec)
    return name, json.loads((folder / "attack.json").read_text(encoding="utf-8"))


def _paired(a: dict[Any, float], b: dict[Any, float]) -> tuple[float, float, float, float, int]:
    """(mean of a - b, 95% paired bootstrap interval, paired permutation p, pairs) over
    the keys both hold (scipy.stats.bootstrap, scipy.stats.permutation_test)."""
    import numpy as np
    from scipy import stats

    def mean_diff(u: np.ndarray, v: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.mean(u - v, axis=axis)

    keys = sorted(set(a) & set(b))
    x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
    ci = stats.bootstrap((x, y), mean_diff, paired=True, n_resamples=2000, random_state=0).confidence_interval
    p = stats.permutation_test((x, y), mean_diff, permutation_type="samples", n_resamples=2000, random_state=0).pvalue
    return float(np.mean(x - y)), float(ci.low), float(ci.high), float(p), len(keys)


def _budget_key(budget: float) -> str:
    return f"{budget:g}"


def attack_tables(runs: list[tuple[str, dict[str, Any]]], metric: str) -> str:
    langs = list(runs[0][1]["languages"])
    budgets = runs[0][1]["budgets"]
    low = set(runs[0][1].get("low_resource_langs") or ())
    head = "| run | " + " | ".join(f"{lang}{' (low)' if lang in low else ''}" for lang in langs) + " | average | low-resource avg |"
    rule = "|---|" + "---:|" * (len(langs) + 2)
    out: list[str] = []
    counts = {(name, lang): data["languages"][lang]["budgets"]["0"]["count"] for name, data in runs for lang in langs}
    if len(set(counts.values())) != 1:
        raise SystemExit(f"runs were attacked on different numbers of rows: {counts}")

    def row(name: str, values: list[float]) -> str:
        lows = [v for lang, v in zip(langs, values) if lang in low]
        avg = sum(values) / len(values)
        low_avg = sum(lows) / len(lows) if lows else float("nan")
        return f"| {name} | " + " | ".join(f"{v:.1f}" for v in values) + f" | {avg:.1f} | {low_avg:.1f} |"

    for budget in budgets:
        key = _budget_key(budget)
        title = "clean (budget 0)" if budget == 0 else f"under attack, budget {budget:g}"
        out += [f"{metric}, {title}", "", head, rule]
        for name, data in runs:
            out.append(row(name, [data["languages"][lang]["budgets"][key][metric] for lang in langs]))
        out.append("")
    for budget in budgets:
        if budget == 0:
            continue
        key = _budget_key(budget)
        out += [f"attack success rate at budget {budget:g} (% of the examples the model had right) / mean share of words changed", "", head, rule]
        for name, data in runs:
            cells = []
            for lang in langs:
                b = data["languages"][lang]["budgets"][key]
                cells.append(f"{b['success_rate']:.0f} / {100 * b['mean_changed_share']:.1f}%")
            out.append(f"| {name} | " + " | ".join(cells) + " | | |")
        out.append("")
    first = runs[0][1]
    out += ["lexicon coverage (share of words with a candidate, %)", "", "| " + " | ".join(langs) + " |", "|" + "---:|" * len(langs)]
    out.append("| " + " | ".join(f"{first['languages'][lang]['coverage']['coverage']:.1f}" for lang in langs) + " |")
    out.append("")
    return "\n".join(out)


@functools.lru_cache(maxsize=None)
def _after(folder: Path, lang: str) -> dict[float, dict[str, float]]:
    """budget -> example id -> 100 x correct after the attack (attack-{lang}.jsonl),
    read once per file."""
    out: dict[float, dict[str, float]] = {}
    for line in (folder / f"attack-{lang}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out.setdefault(round(record["budget"], 9), {})[record["id"]] = 100.0 * float(record["after"]["correct"])
    return out


def paired_tables(specs: list[str]) -> str:
    """Each run after the first against the first, per budget: the difference in
    accuracy under attack on the same examples, over the target languages and over
    the low-resource ones, with a 95% paired bootstrap interval over examples
    (scipy.stats.bootstrap) and a paired permutation p (scipy.stats.permutation_test).
    One seed a run: seed variance is not in these intervals."""
    runs = [_spec(spec) for spec in specs]
    first = json.loads((runs[0][1] / "attack.json").read_text(encoding="utf-8"))
    source = first.get("source_lang", "en")
    langs = [lang for lang in first["languages"] if lang != source]
    low = [lang for lang in langs if lang in set(first.get("low_resource_langs") or ())]
    groups = {"target languages": langs, "low-resource languages": low}
    out = [f"paired difference from {runs[0][0]} under attack (accuracy, points; 95% bootstrap interval over examples; permutation p)", ""]
    out += ["| run | budget | " + " | ".join(groups) + " |", "|---|---:|" + "---|" * len(groups)]

    def scores(folder: Path, group: list[str], budget: float) -> dict[tuple[str, str], float]:
        return {(lang, i): v for lang in group for i, v in _after(folder, lang)[round(budget, 9)].items()}

    for name, folder in runs[1:]:
        for budget in first["budgets"]:
            cells = []
            for group in groups.values():
                diff, low_ci, high_ci, p, n = _paired(scores(folder, group, budget), scores(runs[0][1], group, budget))
                cells.append(f"{diff:+.1f} [{low_ci:+.1f}, {high_ci:+.1f}], p {p:.3f} (n {n})")
            out.append(f"| {name} | {budget:g} | " + " | ".join(cells) + " |")
    return "\n".join(out + [""])


def generalized_tables(specs: list[str]) -> str:
    out = ["generalized pairs (first sentence in the row language, second in the column language): accuracy", ""]
    summary = ["| run | same-language average | mixed-language average | difference |", "|---|---:|---:|---:|"]
    matrices = []
    for spec in specs:
        name, folder = _spec(spec)
        g = json.loads((folder / "results.json").read_text(encoding="utf-8"))["generalized"]
        summary.append(f"| {name} | {g['same_average']:.1f} | {g['mixed_average']:.1f} | {g['mixed_average'] - g['same_average']:+.1f} |")
        langs = g["languages"]
        matrix = [f"{name} ({g['count']} pairs a cell)", "", "| first \\ second | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
        matrix += [f"| {a} | " + " | ".join(f"{g['accuracy'][a][b]:.0f}" for b in langs) + " |" for a in langs]
        matrices.append("\n".join(matrix))
    return "\n".join(out + summary + [""] + _generalized_paired(specs) + ["\n\n".join(matrices), ""])


def _mixed_records(folder: Path) -> dict[tuple[str, str, str], float]:
    out = {}
    for line in (folder / "predictions-generalized.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r["first"] != r["second"]:
            out[(r["first"], r["second"], r["id"])] = 100.0 * float(r["correct"])
    return out


def _generalized_paired(specs: list[str]) -> list[str]:
    """Each run after the first against it on the mixed-language pairs (off the
    diagonal), paired by (first language, second language, id)."""
    if len(specs) < 2:
        return []
    runs = [_spec(spec) for spec in specs]
    base = _mixed_records(runs[0][1])
    out = [f"paired difference from {runs[0][0]} on the mixed-language pairs (accuracy, points; 95% bootstrap interval; permutation p)", ""]
    out += ["| run | difference | pairs |", "|---|---|---:|"]
    for name, folder in runs[1:]:
        diff, low_ci, high_ci, p, n = _paired(_mixed_records(folder), base)
        out.append(f"| {name} | {diff:+.1f} [{low_ci:+.1f}, {high_ci:+.1f}], p {p:.3f} | {n} |")
    return out + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="NAME=ATTACK_DIR (or ATTACK_DIR)")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--generalized", nargs="*", default=[], metavar="NAME=EVAL_DIR")
    args = parser.parse_args()
    if args.runs:
        print(attack_tables([_load(spec) for spec in args.runs], args.metric))
        if len(args.runs) > 1 and args.metric == "accuracy":
            print(paired_tables(args.runs))
    if args.generalized:
        print(generalized_tables(args.generalized))


if __name__ == "__main__":
    main()
