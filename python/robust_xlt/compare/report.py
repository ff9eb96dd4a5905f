"""`robust-xlt report`: the numbers of a set of runs, per task and method, with the
evidence a comparison needs (see :mod:`robust_xlt.compare.stats` for the definitions).

Writes into the output folder::

    report.md       tables and figures, with what each number means
    report.json     every number of the tables (``tasks[task]``: ``scores``,
                    ``differences``, ``selection``, ``oracle``, ``attack``,
                    ``attack_differences``, ``generalized``, and ``cost``, the one
                    part that depends on the machine's load)
    report.csv      the same numbers, one row each (``kind``: score, difference,
                    oracle_score, oracle_change, oracle_difference, attack,
                    attack_success, attack_difference, attack_lost_difference,
                    generalized, cost)
    figures/        robustness curves, generalized heat maps, a forest plot of the
                    differences and the training cost, PNG, one set per task
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from robust_xlt.atomic import write_text_atomic
from robust_xlt.compare.runs import ReportError, Run, finite, load_runs
from robust_xlt.compare.stats import (
    CONFIDENCE,
    HIERARCHICAL_RESAMPLES,
    PERMUTATION_RESAMPLES,
    RANDOM_SEED,
    PairedData,
    hierarchical_distribution,
    paired_difference,
    seed_summary,
    seeds_needed,
)
from robust_xlt.evaluation import METRIC_TITLES

log = logging.getLogger(__name__)

GROUPS: tuple[str, ...] = ("average", "target_average", "low_resource_average")
GROUP_TITLES = {"average": "average", "target_average": "target avg", "low_resource_average": "low-resource avg"}
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
REPORT_CSV = "report.csv"
FIGURES = "figures"
DELTA = 1.0  # the difference (points) the power estimate is for
ALPHA, POWER = 0.05, 0.8


def build_report(inputs: Sequence[Path], output_dir: Path, *, baseline: str = "standard", figures: bool = True) -> dict[str, Any]:
    """Read the runs under ``inputs`` (see :mod:`robust_xlt.compare.runs`), write the
    report into ``output_dir`` and return what report.json holds."""
    runs, notes = load_runs(list(inputs))
    if not runs:
        raise ReportError(f"no finished runs in {', '.join(str(p) for p in inputs)}")
    tasks: dict[str, list[Run]] = {}
    for run in runs:
        tasks.setdefault(run.task_label, []).append(run)
    report: dict[str, Any] = {
        "baseline": baseline,
        "confidence": CONFIDENCE,
        "resamples": {"seed_bootstrap": 9999, "hierarchical_bootstrap": HIERARCHICAL_RESAMPLES, "permutation": PERMUTATION_RESAMPLES},
        "random_seed": RANDOM_SEED,
        "power": {"delta": DELTA, "alpha": ALPHA, "power": POWER},
        "notes": notes,
        "tasks": {name: task_report(name, task_runs, baseline) for name, task_runs in tasks.items()},
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    figure_files: dict[str, dict[str, str]] = {}
    if figures:
        from robust_xlt.compare.figures import task_figures

        (output_dir / FIGURES).mkdir(exist_ok=True)
        for name, task in report["tasks"].items():
            figure_files[name] = {}
            for kind, fig in task_figures(name, task).items():
                relative = f"{FIGURES}/{_file_name(name)}-{kind}.png"
                fig.savefig(output_dir / relative, dpi=120, bbox_inches="tight")
                figure_files[name][kind] = relative
    clean = _json_safe(report)
    write_text_atomic(output_dir / REPORT_JSON, json.dumps(clean, indent=1, ensure_ascii=False) + "\n")
    write_text_atomic(output_dir / REPORT_CSV, _csv(clean))
    write_text_atomic(output_dir / REPORT_MD, _markdown(clean, figure_files))
    log.info("report of %d runs in %s", len(runs), output_dir)
    return clean


# ----------------------------------------------------------------- one task


def task_report(name: str, runs: list[Run], baseline: str) -> dict[str, Any]:
    first = runs[0].results
    metrics = [m for m in first["metrics"] if not m.startswith("lang_")] or list(first["metrics"])
    langs: list[str] = []
    for run in runs:
        langs += [lang for lang in run.results["languages"] if lang not in langs]
    source = first["source_lang"]
    low = [lang for lang in first.get("low_resource_langs", []) if lang in langs]
    by_label: dict[str, dict[int, Run]] = {}
    for run in runs:
        seeds = by_label.setdefault(run.label, {})
        if run.seed in seeds:
            raise ReportError(f"{name}: two runs of {run.label} with seed {run.seed}: {seeds[run.seed].path} and {run.path}")
        seeds[run.seed] = run
    labels = sorted(by_label, key=lambda label: (label != baseline, [r.label for r in runs].index(label)))
    notes = []
    if baseline not in by_label:
        notes.append(f"no {baseline} runs: no differences against a baseline")
    one_seed = [label for label in labels if len(by_label[label]) == 1]
    if one_seed:
        notes.append(f"one seed only ({', '.join(one_seed)}): no spread or interval over seeds for these")
    if any(r.results.get("smoke_run") for r in runs):
        notes.append("smoke runs on the sample shipped with robust-xlt: these numbers only show that the pipeline runs")
    groups = {
        "average": langs,
        "target_average": [lang for lang in langs if lang != source],
        "low_resource_average": low,
    }
    out: dict[str, Any] = {
        "task": first["task"],
        "model": first.get("model"),
        "data": first.get("data"),
        "metrics": metrics,
        "languages": langs,
        "source_lang": source,
        "low_resource_langs": low,
        "baseline": baseline if baseline in by_label else None,
        "methods": labels,
        "runs": {label: {str(s): by_label[label][s].name for s in sorted(by_label[label])} for label in labels},
        "notes": notes,
        "scores": {label: _scores(by_label[label], metrics, langs) for label in labels},
        "selection": {label: _selection(by_label[label]) for label in labels},
        "oracle": _oracle(runs, by_label, labels, baseline, metrics, langs),
    }
    out["differences"] = {}
    if baseline in by_label:
        for label in labels:
            if label != baseline:
                out["differences"][label] = _differences(by_label[label], by_label[baseline], metrics, langs, groups, out["scores"], label, baseline)
    out["attack"] = {label: a for label in labels if (a := _attack(by_label[label], metrics, low)) is not None}
    out["attack_differences"] = {}
    if baseline in out["attack"]:
        for label in labels:
            if label != baseline and label in out["attack"]:
                out["attack_differences"][label] = _attack_differences(by_label[label], by_label[baseline], out["attack"][label], out["attack"][baseline])
    out["generalized"] = {label: g for label in labels if (g := _generalized(by_label[label])) is not None}
    out["cost"] = _cost(by_label, labels, baseline)
    return out


def _scores(runs: dict[int, Run], metrics: list[str], langs: list[str]) -> dict[str, Any]:
    seeds = sorted(runs)
    out: dict[str, Any] = {"seeds": seeds}
    for m in metrics:
        table: dict[str, Any] = {}
        for lang in langs:
            table[lang] = seed_summary([runs[s].results["languages"][lang][m] for s in seeds if lang in runs[s].results["languages"]])
        for group in GROUPS:
            values = [(runs[s].results.get(group) or {}).get(m) for s in seeds]
            table[group] = seed_summary([v for v in values if v is not None])
        out[m] = table
    return out


def _selection(runs: dict[int, Run]) -> dict[str, Any]:
    seeds = sorted(runs)
    selections = [runs[s].results.get("selection", {}) for s in seeds]
    return {
        "lang": sorted({str(sel.get("lang")) for sel in selections}),
        "metric": selections[0].get("metric"),
        "dev_score": seed_summary([sel.get("score") for sel in selections if sel.get("score") is not None]),
        "best_step": [runs[s].results.get("best_step") for s in seeds],
        "steps": [runs[s].results.get("steps") for s in seeds],
    }


def _oracle(
    runs: list[Run], by_label: dict[str, dict[int, Run]], labels: list[str], baseline: str, metrics: list[str], langs: list[str]
) -> dict[str, Any]:
    """Scores under oracle selection (each target language at the step its own dev rows
    chose, results.json's ``oracle``), when every run has them: per method the seed
    summaries as for the English-dev-selected scores, the change from those (per
    seed), and the difference from the baseline paired by seed."""
    missing = [run.name for run in runs if "oracle" not in run.results]
    if missing:
        return {
            "available": False,
            "reason": f"{len(missing)} of {len(runs)} runs were trained without oracle dev rows (oracle_dev_examples 0; e.g. {missing[0]})",
        }

    def values(run: Run, key: str, m: str, selected: bool) -> float | None:
        r = run.results if selected else run.results["oracle"]
        block = r["languages"].get(key) if key in langs else r.get(key)
        return None if block is None else block.get(m)

    def per_seed(a: dict[int, Run], b: dict[int, Run], key: str, m: str, a_selected: bool, b_selected: bool) -> dict[str, Any]:
        seeds = sorted(set(a) & set(b))
        diffs = []
        for s in seeds:
            x, y = values(a[s], key, m, a_selected), values(b[s], key, m, b_selected)
            if x is not None and y is not None:
                diffs.append(x - y)
        return seed_summary(diffs)

    out: dict[str, Any] = {"available": True, "dev_examples": runs[0].results["oracle"].get("dev_examples"), "scores": {}, "change": {}, "differences": {}}
    for label in labels:
        group = by_label[label]
        seeds = sorted(group)
        out["scores"][label] = {m: {key: seed_summary([v for s in seeds if (v := values(group[s], key, m, False)) is not None]) for key in [*langs, *GROUPS]} for m in metrics}
        out["change"][label] = {m: {key: per_seed(group, group, key, m, False, True) for key in GROUPS} for m in metrics}
        if baseline in by_label and label != baseline:
            out["differences"][label] = {m: {key: per_seed(group, by_label[baseline], key, m, False, False) for key in GROUPS} for m in metrics}
    return out


def _differences(
    method: dict[int, Run],
    base: dict[int, Run],
    metrics: list[str],
    langs: list[str],
    groups: dict[str, list[str]],
    scores: dict[str, Any],
    label: str,
    baseline: str,
) -> dict[str, Any]:
    seeds = sorted(set(method) & set(base))
    out: dict[str, Any] = {"seeds": seeds}
    if not seeds:
        out["note"] = f"no seed in common with {baseline}: no paired comparison"
        return out
    for m in metrics:
        data = []
        for lang in langs:
            if all(lang in method[s].results["languages"] and lang in base[s].results["languages"] for s in seeds):
                d = PairedData.of(lang, {s: method[s].scores(lang, m) for s in seeds}, {s: base[s].scores(lang, m) for s in seeds})
                if d is not None:
                    data.append(d)
        if not data:
            continue
        distribution = hierarchical_distribution(data, HIERARCHICAL_RESAMPLES, np.random.default_rng(RANDOM_SEED))
        index = {d.lang: i for i, d in enumerate(data)}
        table: dict[str, Any] = {}
        for lang, i in index.items():
            table[lang] = paired_difference(data, distribution, [i])
            table[lang]["seeds_needed_unpaired"] = _unpaired(scores, label, baseline, m, lang)
        for group, members in groups.items():
            columns = [index[lang] for lang in members if lang in index]
            if columns:
                table[group] = paired_difference(data, distribution, columns)
                table[group]["seeds_needed_unpaired"] = _unpaired(scores, label, baseline, m, group)
        out[m] = table
    return out


def _unpaired(scores: dict[str, Any], label: str, baseline: str, metric: str, key: str) -> int | None:
    """Seeds a method for an unpaired comparison: the two methods' between-seed
    variances pooled; None while either has one seed."""
    a, b = scores[label][metric].get(key), scores[baseline][metric].get(key)
    if not a or not b or a["std"] is None or b["std"] is None:
        return None
    return seeds_needed(float(np.sqrt((a["std"] ** 2 + b["std"] ** 2) / 2)), delta=DELTA, alpha=ALPHA, power=POWER, paired=False)


def _attack(runs: dict[int, Run], metrics: list[str], low: list[str]) -> dict[str, Any] | None:
    attacked = {s: r.attack for s, r in runs.items() if r.attack is not None}
    if not attacked:
        return None
    seeds = sorted(attacked)
    first = attacked[seeds[0]]
    budgets = sorted({float(b) for a in attacked.values() for b in a["budgets"]})
    keys = [f"{b:g}" for b in budgets]
    langs: list[str] = []
    for a in attacked.values():
        langs += [lang for lang in a["languages"] if lang not in langs]
    groups = {"high-resource": [lang for lang in langs if lang not in low], "low-resource": [lang for lang in langs if lang in low]}
    out: dict[str, Any] = {
        "seeds": seeds,
        "budgets": budgets,
        "languages": langs,
        "groups": {g: members for g, members in groups.items() if members},
        "rows": {lang: first["languages"][lang]["budgets"][keys[0]]["count"] for lang in first["languages"] if keys[0] in first["languages"][lang]["budgets"]},
        "mode": first.get("attack", {}).get("mode"),
        "metrics": [m for m in metrics if m in first.get("metrics", metrics)],
    }

    def value(a: dict[str, Any], lang: str, key: str, field: str) -> float | None:
        cell = a["languages"].get(lang, {}).get("budgets", {}).get(key)
        return None if cell is None or cell.get(field) is None else float(cell[field])

    for field in [*out["metrics"], "success_rate"]:
        table: dict[str, Any] = {}
        for lang in langs:
            table[lang] = {k: seed_summary([v for s in seeds if (v := value(attacked[s], lang, k, field)) is not None]) for k in keys}
        for group, members in out["groups"].items():
            per_budget = {}
            for k in keys:
                per_seed = []
                for s in seeds:
                    values = [value(attacked[s], lang, k, field) for lang in members]
                    if all(v is not None for v in values):
                        per_seed.append(float(np.mean(values)))  # type: ignore[arg-type]
                per_budget[k] = seed_summary(per_seed)
            table[group] = per_budget
        out[field] = table
    return out


ATTACK_GROUP_TITLES = {"attacked_average": "attacked languages", "high-resource": "high-resource", "low-resource": "low-resource"}


def _attack_differences(method: dict[int, Run], base: dict[int, Run], summary: dict[str, Any], base_summary: dict[str, Any]) -> dict[str, Any]:
    """A method under attack against the baseline, paired by seed and attacked row, at
    each budget both attacked: the score after the attack (``<metric>``), and the score
    the attack took away, budget 0 minus budget b (``lost_<metric>``; negative: the
    method lost less). Per attacked language and group (every attacked language, and
    the high- and low-resource ones), with the interval, p-value and power of
    :func:`paired_difference`. The groups share one resampling per budget."""
    seeds = sorted(set(summary["seeds"]) & set(base_summary["seeds"]))
    langs = [lang for lang in summary["languages"] if lang in base_summary["languages"]]
    budgets = [b for b in summary["budgets"] if b in base_summary["budgets"]]
    out: dict[str, Any] = {"seeds": seeds, "budgets": budgets, "languages": langs}
    if not seeds or not langs:
        out["note"] = "no attacked seed and language in common with the baseline: no paired comparison"
        return out
    groups = {"attacked_average": langs, **{g: [lang for lang in members if lang in langs] for g, members in summary["groups"].items()}}
    out["groups"] = {g: members for g, members in groups.items() if members}
    clean = 0.0 if 0.0 in budgets else None

    def table(data: list[PairedData]) -> dict[str, Any]:
        distribution = hierarchical_distribution(data, HIERARCHICAL_RESAMPLES, np.random.default_rng(RANDOM_SEED))
        index = {d.lang: i for i, d in enumerate(data)}
        rows = {lang: paired_difference(data, distribution, [i]) for lang, i in index.items()}
        for group, members in out["groups"].items():
            columns = [index[lang] for lang in members if lang in index]
            if columns:
                rows[group] = paired_difference(data, distribution, columns)
        return rows

    def lost(zero: dict[int, dict[str, float]], now: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
        return {s: {i: zero[s][i] - v for i, v in now[s].items() if i in zero[s]} for s in seeds}

    for m in [m for m in summary["metrics"] if m in base_summary["metrics"]]:
        # Per budget and language: (method, baseline) per seed, example id -> score.
        scores = {
            b: {lang: ({s: method[s].attack_scores(lang, m, b) for s in seeds}, {s: base[s].attack_scores(lang, m, b) for s in seeds}) for lang in langs}
            for b in budgets
        }
        after: dict[str, Any] = {}
        taken: dict[str, Any] = {}
        for b in budgets:
            data = [d for lang in langs if (d := PairedData.of(lang, *scores[b][lang])) is not None]
            if data:
                after[f"{b:g}"] = table(data)
            if clean is None or b == clean:
                continue
            drops = []
            for lang in langs:
                (method_zero, base_zero), (method_now, base_now) = scores[clean][lang], scores[b][lang]
                if (d := PairedData.of(lang, lost(method_zero, method_now), lost(base_zero, base_now))) is not None:
                    drops.append(d)
            if drops:
                taken[f"{b:g}"] = table(drops)
        out[m] = after
        out[f"lost_{m}"] = taken
    return out


def _with_averages(matrix: dict[str, Any]) -> dict[str, Any]:
    """A generalized matrix in the current layout: files written before the QA matrices
    (2026-12-01) hold only ``accuracy`` and its same/mixed averages at the top level."""
    if "metrics" in matrix:
        return matrix
    return {
        **matrix,
        "metrics": ["accuracy"],
        "averages": {"accuracy": {"same": matrix.get("same_average"), "mixed": matrix.get("mixed_average")}},
    }


def _generalized(runs: dict[int, Run]) -> dict[str, Any] | None:
    matrices = {s: _with_averages(r.generalized) for s, r in runs.items() if r.generalized is not None}
    if not matrices:
        return None
    seeds = sorted(matrices)
    first = matrices[seeds[0]]
    langs = first["languages"]
    out: dict[str, Any] = {
        "seeds": seeds,
        "languages": langs,
        "rows": first.get("rows"),
        "columns": first.get("columns"),
        "count": first.get("count"),
        "metrics": first["metrics"],
    }
    for m in first["metrics"]:
        out[m] = {
            a: {b: float(np.mean([matrices[s][m][a][b] for s in seeds if a in matrices[s][m] and b in matrices[s][m][a]])) for b in langs}
            for a in langs
        }
        out[f"{m}_same_average"] = seed_summary([matrices[s]["averages"][m]["same"] for s in seeds if matrices[s]["averages"][m]["same"] is not None])
        out[f"{m}_mixed_average"] = seed_summary([matrices[s]["averages"][m]["mixed"] for s in seeds if matrices[s]["averages"][m]["mixed"] is not None])
    return out


def _cost(by_label: dict[str, dict[int, Run]], labels: list[str], baseline: str) -> dict[str, Any]:
    medians = {label: [m for r in by_label[label].values() if (m := r.median_step_seconds()) is not None] for label in labels}
    median_of = {label: float(np.median(v)) if v else None for label, v in medians.items()}
    base = median_of.get(baseline)
    out: dict[str, Any] = {}
    for label in labels:
        train = [t for r in by_label[label].values() if (t := r.train_seconds()) is not None]
        median = median_of[label]
        out[label] = {
            "median_s_per_step": median,
            "s_per_step": seed_summary(medians[label]),
            "ratio_to_baseline": median / base if median is not None and base else None,
            "train_seconds": seed_summary(train),
        }
    return out


# ------------------------------------------------------------------- outputs


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    return finite(value)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)


CSV_COLUMNS = (
    "task",
    "kind",
    "method",
    "metric",
    "group",
    "budget",
    "n_seeds",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "p_value",
    "n_examples",
    "seeds_needed_paired",
    "seeds_needed_unpaired",
)


def _csv(report: dict[str, Any]) -> str:
    rows: list[dict[str, Any]] = []
    for task_name, task in report["tasks"].items():
        for label, scores in task["scores"].items():
            for m in task["metrics"]:
                for group, s in scores[m].items():
                    rows.append({"task": task_name, "kind": "score", "method": label, "metric": m, "group": group, **_summary_cells(s)})
        for label, diffs in task["differences"].items():
            for m in task["metrics"]:
                for group, d in diffs.get(m, {}).items():
                    rows.append({"task": task_name, "kind": "difference", "method": label, "metric": m, "group": group, **_difference_cells(d)})
        oracle = task["oracle"]
        if oracle["available"]:
            for kind, block in (("oracle_score", oracle["scores"]), ("oracle_change", oracle["change"]), ("oracle_difference", oracle["differences"])):
                for label, per_metric in block.items():
                    for m, groups in per_metric.items():
                        for group, s in groups.items():
                            rows.append({"task": task_name, "kind": kind, "method": label, "metric": m, "group": group, **_summary_cells(s)})
        for label, attack in task["attack"].items():
            for field in [*attack["metrics"], "success_rate"]:
                kind = "attack_success" if field == "success_rate" else "attack"
                for group, per_budget in attack[field].items():
                    for budget, s in per_budget.items():
                        rows.append({"task": task_name, "kind": kind, "method": label, "metric": field, "group": group, "budget": budget, **_summary_cells(s)})
        for label, ad in task.get("attack_differences", {}).items():
            for field, per_budget in ad.items():
                if field in ("seeds", "budgets", "languages", "groups", "note"):
                    continue
                kind = "attack_lost_difference" if field.startswith("lost_") else "attack_difference"
                metric = field.removeprefix("lost_")
                for budget, per_group in per_budget.items():
                    for group, d in per_group.items():
                        rows.append({"task": task_name, "kind": kind, "method": label, "metric": metric, "group": group, "budget": budget, **_difference_cells(d)})
        for label, g in task["generalized"].items():
            for m in g["metrics"]:
                for which in ("same", "mixed"):
                    s = g[f"{m}_{which}_average"]
                    rows.append({"task": task_name, "kind": "generalized", "method": label, "metric": m, "group": f"{which}_language_average", **_summary_cells(s)})
        for label, c in task["cost"].items():
            rows.append({"task": task_name, "kind": "cost", "method": label, "metric": "s_per_step", "group": "median", **_summary_cells(c["s_per_step"])})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in CSV_COLUMNS})
    return buffer.getvalue()


def _summary_cells(s: dict[str, Any]) -> dict[str, Any]:
    return {"n_seeds": s["n"], "mean": s["mean"], "std": s["std"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}


def _difference_cells(d: dict[str, Any]) -> dict[str, Any]:
    """A paired difference's CSV cells (the unpaired seed count where it was computed)."""
    return {
        "n_seeds": d["n_seeds"],
        "mean": d["difference"],
        "ci_low": d["ci_low"],
        "ci_high": d["ci_high"],
        "p_value": d["p_value"],
        "n_examples": d["n_examples"],
        "seeds_needed_paired": d["seeds_needed_paired"],
        "seeds_needed_unpaired": d.get("seeds_needed_unpaired"),
    }


def _num(x: float | None, digits: int = 1, sign: bool = False) -> str:
    if x is None:
        return "–"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def _score_cell(s: dict[str, Any], interval: bool = False) -> str:
    if s["mean"] is None:
        return "–"
    text = _num(s["mean"])
    if s["std"] is not None:
        text += f" ± {_num(s['std'])}"
    if interval and s["ci_low"] is not None:
        text += f" [{_num(s['ci_low'])}, {_num(s['ci_high'])}]"
    return text


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    floor = 1 / (PERMUTATION_RESAMPLES + 1)
    if p <= floor + 1e-12:
        return f"< {floor:.4f}"  # the smallest p the resamples can show
    return f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def _markdown(report: dict[str, Any], figures: dict[str, dict[str, str]]) -> str:
    lines = ["# Comparison report", ""]
    lines += [f"- {note}" for note in report["notes"]]
    for name, task in report["tasks"].items():
        lines += _task_markdown(name, task, figures.get(name, {}), report)
    lines += _definitions(report)
    return "\n".join(lines) + "\n"


def _task_markdown(name: str, task: dict[str, Any], figures: dict[str, str], report: dict[str, Any]) -> list[str]:
    low = set(task["low_resource_langs"])
    lines = ["", f"## {name} ({task['task']}, {task['model']})", ""]
    data = task.get("data") or {}
    if data:
        lines += ["Data: " + "; ".join(f"{k} `{v}`" for k, v in data.items()), ""]
    lines += [f"- {note}" for note in task["notes"]]
    seeds = ", ".join(f"{label} {len(runs)}" for label, runs in task["runs"].items())
    lines += [f"Seeds per method: {seeds}. Scores are the runs' own, on the model selected on the {task['source_lang']} dev set.", ""]
    for m in task["metrics"]:
        title = METRIC_TITLES.get(m, m)
        lines += [f"### {title}: mean ± standard deviation over seeds [95% bootstrap interval over seeds]", ""]
        header = ["method", "seeds", *(GROUP_TITLES[g] for g in GROUPS)]
        lines += ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * len(GROUPS)]
        for label in task["methods"]:
            s = task["scores"][label][m]
            lines.append(f"| {label} | {len(task['runs'][label])} | " + " | ".join(_score_cell(s[g], True) for g in GROUPS) + " |")
        lines += ["", f"Per language ({title}, mean ± std over seeds; low-resource languages marked *):", ""]
        names = [f"{lang}*" if lang in low else lang for lang in task["languages"]]
        lines += ["| method | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for label in task["methods"]:
            s = task["scores"][label][m]
            lines.append(f"| {label} | " + " | ".join(_score_cell(s[lang]) for lang in task["languages"]) + " |")
        lines.append("")
        if task["differences"]:
            lines += _difference_markdown(task, m, title, report)
    lines += _selection_markdown(task)
    if task["attack"]:
        lines += _attack_markdown(task)
    if task.get("attack_differences"):
        lines += _attack_difference_markdown(task)
    if task["generalized"]:
        lines += _generalized_markdown(task)
    lines += _cost_markdown(task)
    for kind, path in figures.items():
        lines += [f"![{name} {kind}]({path})", ""]
    return lines


def _difference_markdown(task: dict[str, Any], m: str, title: str, report: dict[str, Any]) -> list[str]:
    base = task["baseline"]
    lines = [
        f"Difference from {base} ({title}, points; paired by seed and example): 95% hierarchical bootstrap interval "
        "(seeds, then examples), permutation p-value, and the seeds needed to detect 1 point (power 0.8, alpha 0.05) "
        "paired / unpaired:",
        "",
        "| method | group | difference [95% interval] | p | seeds | examples | seeds for 1 point: paired | unpaired |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    per_lang = []
    for label, diffs in task["differences"].items():
        if m not in diffs:
            lines.append(f"| {label} | – | {diffs.get('note', 'no common examples')} | | | | | |")
            continue
        for group in GROUPS:
            d = diffs[m].get(group)
            if d is None:
                continue
            paired = d["seeds_needed_paired"]
            paired_text = "n/a (one seed)" if d["n_seeds"] < 2 else (str(paired) if paired is not None else "> 10000")
            unpaired = d["seeds_needed_unpaired"]
            unpaired_text = "n/a (one seed)" if unpaired is None else str(unpaired)
            lines.append(
                f"| {label} | {GROUP_TITLES[group]} | {_num(d['difference'], 2, True)} [{_num(d['ci_low'], 2, True)}, "
                f"{_num(d['ci_high'], 2, True)}] | {_p(d['p_value'])} | {d['n_seeds']} | {d['n_examples']} | {paired_text} | {unpaired_text} |"
            )
        per_lang.append(f"| {label} | " + " | ".join(_difference_cell(diffs[m].get(lang), p=False) for lang in task["languages"]) + " |")
    lines += ["", f"Per language (difference from {base} [95% interval], points):", ""]
    lines += ["| method | " + " | ".join(task["languages"]) + " |", "|---|" + "---:|" * len(task["languages"]), *per_lang, ""]
    return lines


def _selection_markdown(task: dict[str, Any]) -> list[str]:
    oracle = task["oracle"]
    lines = [
        "### Model selection",
        "",
        "The scores above are those of the model selected on the source-language dev set (XTREME's choice).",
    ]
    if not oracle["available"]:
        lines[-1] += f" Oracle selection on target-language dev: **not available**. {oracle['reason'][0].upper()}{oracle['reason'][1:]}."
    else:
        lines += _oracle_markdown(task)
    lines += [
        "",
        "Selection on the source-language dev set:",
        "",
        "| method | selected on | dev score (mean ± std) | selected step per seed | steps |",
        "|---|---|---:|---|---:|",
    ]
    for label in task["methods"]:
        sel = task["selection"][label]
        steps = ", ".join(str(s) for s in sel["steps"] if s is not None)
        best = ", ".join(str(s) for s in sel["best_step"])
        lines.append(f"| {label} | {', '.join(sel['lang'])} {sel['metric']} | {_score_cell(sel['dev_score'])} | {best} | {steps} |")
    return [*lines, ""]


def _oracle_markdown(task: dict[str, Any]) -> list[str]:
    oracle = task["oracle"]
    rows = ", ".join(f"{lang} {n}" for lang, n in (oracle.get("dev_examples") or {}).items())
    base = task["baseline"]
    lines = [
        "",
        f"Oracle selection: each target language scored at the evaluation step its own dev rows chose ({rows} rows, "
        f"after the evaluated ones and sharing no text with them); {task['source_lang']} keeps its own dev set's choice. "
        "Change: oracle minus source-dev selection, per seed. Difference: from "
        f"{base}, paired by seed (mean ± std [95% bootstrap interval over seeds]).",
        "",
    ]
    for m in task["metrics"]:
        title = METRIC_TITLES.get(m, m)
        header = ["method", *(f"oracle {GROUP_TITLES[g]}" for g in GROUPS), "change, target avg", f"difference from {base}, target avg", f"difference, low-resource avg"]
        lines += [f"{title}:", "", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        for label in task["methods"]:
            scores, change = oracle["scores"][label][m], oracle["change"][label][m]
            diff = oracle["differences"].get(label, {}).get(m)
            cells = [_score_cell(scores[g], True) for g in GROUPS]
            cells.append(_signed_cell(change["target_average"]))
            cells += [_signed_cell(diff["target_average"]) if diff else "–", _signed_cell(diff["low_resource_average"]) if diff else "–"]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _signed_cell(s: dict[str, Any]) -> str:
    if s["mean"] is None:
        return "–"
    text = _num(s["mean"], 2, True)
    if s["std"] is not None:
        text += f" ± {_num(s['std'], 2)}"
    if s["ci_low"] is not None:
        text += f" [{_num(s['ci_low'], 2, True)}, {_num(s['ci_high'], 2, True)}]"
    return text


def _attack_markdown(task: dict[str, Any]) -> list[str]:
    lines = ["### Under attack", ""]
    for label, attack in task["attack"].items():
        rows = ", ".join(f"{lang} {n}" for lang, n in attack["rows"].items())
        lines += [f"{label} ({len(attack['seeds'])} seed(s), {attack['mode']} substitutions; rows attacked: {rows}):", ""]
        keys = [f"{b:g}" for b in attack["budgets"]]
        header = " | ".join(f"budget {k}" for k in keys)
        for m in attack["metrics"]:
            lines += [f"| {METRIC_TITLES.get(m, m)} | {header} | success rate at {keys[-1]} (%) |", "|---|" + "---:|" * (len(keys) + 1)]
            for group in [*attack["languages"], *attack["groups"]]:
                cells = " | ".join(_score_cell(attack[m][group][k]) for k in keys)
                title = f"{group} ({', '.join(attack['groups'][group])})" if group in attack["groups"] else group
                lines.append(f"| {title} | {cells} | {_score_cell(attack['success_rate'][group][keys[-1]])} |")
            lines.append("")
    return lines


def _difference_cell(d: dict[str, Any] | None, digits: int = 1, p: bool = True) -> str:
    """``+d [low, high]``, then ``, p …`` unless ``p`` is False; – for none."""
    if d is None:
        return "–"
    text = f"{_num(d['difference'], digits, True)} [{_num(d['ci_low'], digits, True)}, {_num(d['ci_high'], digits, True)}]"
    return f"{text}, p {_p(d['p_value'])}" if p else text


def _attack_difference_markdown(task: dict[str, Any]) -> list[str]:
    base = task["baseline"]
    lines = [
        f"### Under attack: difference from {base}",
        "",
        f"Paired by seed and attacked row (the same rows for every method), 95% hierarchical bootstrap interval and "
        f"permutation p as above. *After the attack*: the method's score under attack minus {base}'s. *Lost to the attack*: "
        f"(budget 0 minus budget b) of the method minus that of {base}; negative means the method lost less. Seeds for 1 "
        "point: paired, as above, for the score after the attack.",
        "",
    ]
    for label, ad in task["attack_differences"].items():
        if "note" in ad:
            lines += [f"{label}: {ad['note']}.", ""]
            continue
        keys = [f"{b:g}" for b in ad["budgets"]]
        attacked = [k for k in keys if k != "0"]
        for m in [k for k in ad if k in task["metrics"]]:
            title = METRIC_TITLES.get(m, m)
            lines += [f"{label} ({seeds_text(len(ad['seeds']))}), {title}:", ""]
            header = [*(f"after, budget {k}" for k in keys), *(f"lost, budget {k}" for k in attacked), f"seeds for 1 point at {keys[-1]}"]
            lines += ["| group | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
            for group in [*ad["groups"], *ad["languages"]]:
                title_ = f"{ATTACK_GROUP_TITLES[group]} ({', '.join(ad['groups'][group])})" if group in ad["groups"] else group
                cells = [_difference_cell(ad[m].get(k, {}).get(group)) for k in keys]
                cells += [_difference_cell(ad[f"lost_{m}"].get(k, {}).get(group)) for k in attacked]
                last = ad[m].get(keys[-1], {}).get(group)
                if last is None or last["n_seeds"] < 2:
                    cells.append("n/a (one seed)")
                else:
                    cells.append(str(last["seeds_needed_paired"]) if last["seeds_needed_paired"] is not None else "> 10000")
                lines.append(f"| {title_} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def seeds_text(n: int) -> str:
    return "1 seed" if n == 1 else f"{n} seeds"


def _generalized_markdown(task: dict[str, Any]) -> list[str]:
    lines = ["### Generalized setting (parts from two languages)", "", "| method | seeds | metric | same-language average | mixed-language average |", "|---|---:|---|---:|---:|"]
    for label, g in task["generalized"].items():
        for m in g["metrics"]:
            lines.append(
                f"| {label} | {len(g['seeds'])} | {METRIC_TITLES.get(m, m)} | {_score_cell(g[f'{m}_same_average'])} | {_score_cell(g[f'{m}_mixed_average'])} |"
            )
    return [*lines, ""]


def _cost_markdown(task: dict[str, Any]) -> list[str]:
    base = task["baseline"]
    lines = [
        "### Training cost",
        "",
        f"Median steady step time (warm-up, evaluations and checkpoints excluded), its ratio to {base or 'the baseline'}, "
        "and training time; measured on whatever else the machine ran.",
        "",
        "| method | s/step (median over seeds) | ratio | training minutes (mean) |",
        "|---|---:|---:|---:|",
    ]
    for label, c in task["cost"].items():
        ratio = f"{c['ratio_to_baseline']:.2f}x" if c["ratio_to_baseline"] is not None else "–"
        minutes = c["train_seconds"]["mean"] / 60 if c["train_seconds"]["mean"] is not None else None
        lines.append(f"| {label} | {_num(c['median_s_per_step'], 2)} | {ratio} | {_num(minutes)} |")
    return [*lines, ""]


def _definitions(report: dict[str, Any]) -> list[str]:
    r = report["resamples"]
    return [
        "",
        "## What the numbers are",
        "",
        "- Scores are percentages; differences are in points. Averages weight each language equally (XTREME's average "
        "includes the source language; the target average leaves it out).",
        f"- Over seeds: mean, standard deviation (ddof 1) and a {int(100 * report['confidence'])}% percentile bootstrap "
        f"interval over seeds (scipy.stats.bootstrap, {r['seed_bootstrap']} resamples). With 3-5 seeds it is narrower than "
        "a t interval would be; with one seed there is none.",
        "- Differences pair seed s of a method with seed s of the baseline and each example with itself. The interval is a "
        f"hierarchical paired bootstrap ({r['hierarchical_bootstrap']} resamples): seeds are resampled, then each language's "
        "examples within each drawn seed. scipy.stats.bootstrap resamples one level only, so the two levels are drawn with "
        "numpy's Generator and scipy computes the percentile interval from that distribution.",
        f"- p: scipy.stats.permutation_test ({r['permutation']} resamples, two-sided) flipping the sign of each example's "
        "difference averaged over seeds.",
        f"- Seeds for {report['power']['delta']:g} point (alpha {report['power']['alpha']}, power {report['power']['power']}): the smallest n "
        "with n >= ((t(1-alpha/2, n-1) + t(power, n-1)) tau / 1)^2, tau^2 = the between-seed variance of the paired "
        "difference plus its squared standard error over examples (paired); unpaired, n seeds a method with "
        "n >= 2 ((t(1-alpha/2, 2n-2) + t(power, 2n-2)) sigma / 1)^2, sigma^2 the two methods' between-seed variances pooled.",
        f"- Every resampling starts from seed {report['random_seed']}: the same runs give the same report.",
    ]
