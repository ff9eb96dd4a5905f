"""The report's figures, drawn from report.json's numbers of one task.

Each function returns a matplotlib Figure on the Agg canvas (no pyplot, so no global
backend or figure registry is touched), or None when the runs hold nothing to draw.
Axes carry units, languages are named, and every figure with several methods has a
legend or labelled ticks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from robust_xlt.compare.report import ATTACK_GROUP_TITLES, seeds_text
from robust_xlt.evaluation import METRIC_TITLES

GROUP_TITLES = {"average": "all languages", "target_average": "target languages", "low_resource_average": "low-resource languages"}


def task_figures(name: str, task: dict[str, Any]) -> dict[str, Figure]:
    """Every figure the task's numbers allow, by kind."""
    makers = {
        "languages": languages_figure,
        "robustness": robustness_figure,
        "generalized": generalized_figure,
        "forest": forest_figure,
        "attack-forest": attack_forest_figure,
        "cost": cost_figure,
    }
    out = {}
    for kind, make in makers.items():
        fig = make(name, task)
        if fig is not None:
            out[kind] = fig
    return out


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric)


def languages_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """Each method's score per language (mean over seeds, bars: std)."""
    m = task["metrics"][0]
    langs = task["languages"]
    fig = _figure(max(6.0, 0.55 * len(langs) + 2), 4.0)
    ax = fig.add_subplot()
    x = np.arange(len(langs))
    width = 0.8 / max(1, len(task["methods"]))
    for i, label in enumerate(task["methods"]):
        s = task["scores"][label][m]
        means = [s[lang]["mean"] if s[lang]["mean"] is not None else np.nan for lang in langs]
        stds = [s[lang]["std"] or 0.0 for lang in langs]
        ax.bar(x + (i - (len(task["methods"]) - 1) / 2) * width, means, width, yerr=stds, label=label, capsize=2)
    low = set(task["low_resource_langs"])
    ax.set_xticks(x, [f"{lang}\n(low)" if lang in low else lang for lang in langs])
    ax.set_xlabel(f"evaluation language (source: {task['source_lang']})")
    ax.set_ylabel(f"{_title(m)} (%)")
    ax.set_title(f"{name}: {_title(m)} per language, mean over seeds (bars: std)")
    ax.legend(title="method", fontsize="small")
    return fig


def robustness_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """Score against attack budget, one line per method, one panel per language group."""
    attacks = task["attack"]
    if not attacks:
        return None
    groups: dict[str, list[str]] = {}
    for attack in attacks.values():
        for group, members in attack["groups"].items():
            groups.setdefault(group, members)
    metric = next(iter(attacks.values()))["metrics"][0]
    fig = _figure(5.0 * len(groups), 4.0)
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (group, members) in zip(axes, groups.items(), strict=True):
        for label, attack in attacks.items():
            if group not in attack[metric]:
                continue
            keys = [f"{b:g}" for b in attack["budgets"]]
            x = 100 * np.array(attack["budgets"])
            y = np.array([attack[metric][group][k]["mean"] if attack[metric][group][k]["mean"] is not None else np.nan for k in keys])
            sd = np.array([attack[metric][group][k]["std"] or 0.0 for k in keys])
            line = ax.plot(x, y, marker="o", label=f"{label} ({seeds_text(len(attack['seeds']))})")[0]
            ax.fill_between(x, y - sd, y + sd, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("attack budget (most words changed, % of an example's words)")
        ax.set_ylabel(f"{_title(metric)} under attack (%)")
        ax.set_title(f"{group}: {', '.join(members)}")
        ax.legend(title="method (band: ± std over seeds)", fontsize="small")
    fig.suptitle(f"{name}: robustness to word substitutions")
    return fig


def generalized_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """The generalized matrix per method as a heat map, on one colour scale."""
    matrices = task["generalized"]
    if not matrices:
        return None
    first = next(iter(matrices.values()))
    m = first["metrics"][0]
    values = [np.array([[g[m][a][b] for b in g["languages"]] for a in g["languages"]]) for g in matrices.values()]
    low, high = float(min(v.min() for v in values)), float(max(v.max() for v in values))
    n = len(matrices)
    size = max(3.5, 0.45 * len(first["languages"]) + 1.5)
    fig = _figure(size * n + 1.0, size)
    axes = fig.subplots(1, n, squeeze=False)[0]
    image = None
    for ax, (label, g), v in zip(axes, matrices.items(), values, strict=True):
        langs = g["languages"]
        image = ax.imshow(v, vmin=low, vmax=high, cmap="viridis")
        ax.set_xticks(range(len(langs)), langs)
        ax.set_yticks(range(len(langs)), langs)
        ax.set_xlabel(f"language of the {g.get('columns') or 'second part'}")
        ax.set_ylabel(f"language of the {g.get('rows') or 'first part'}")
        ax.set_title(f"{label} ({seeds_text(len(g['seeds']))})")
        if len(langs) <= 8:
            for i in range(len(langs)):
                for j in range(len(langs)):
                    ax.text(j, i, f"{v[i, j]:.0f}", ha="center", va="center", color="white" if v[i, j] < (low + high) / 2 else "black", fontsize=8)
    assert image is not None
    fig.colorbar(image, ax=list(axes), label=f"{_title(m)} (%), mean over seeds")
    fig.suptitle(f"{name}: generalized setting, {_title(m)}")
    return fig


def forest_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """Each method's difference from the baseline with its 95% interval, per group."""
    diffs = task["differences"]
    m = task["metrics"][0]
    if not diffs or not any(m in d for d in diffs.values()):
        return None
    groups = [g for g in GROUP_TITLES if any(g in d.get(m, {}) for d in diffs.values())]
    labels = [label for label in diffs if m in diffs[label]]
    fig = _figure(4.2 * len(groups), 1.2 + 0.45 * len(labels))
    axes = fig.subplots(1, len(groups), squeeze=False, sharey=True)[0]
    y = np.arange(len(labels))[::-1]
    for ax, group in zip(axes, groups, strict=True):
        for yi, label in zip(y, labels, strict=True):
            d = diffs[label][m].get(group)
            if d is None:
                continue
            low, high = d["ci_low"], d["ci_high"]
            err = [[d["difference"] - low], [high - d["difference"]]] if low is not None else None
            ax.errorbar([d["difference"]], [yi], xerr=err, fmt="o", capsize=3, color="C0")
        ax.axvline(0.0, color="grey", linewidth=1, linestyle="--")
        ax.set_xlabel(f"difference from {task['baseline']} ({_title(m)}, points)")
        ax.set_title(GROUP_TITLES[group])
        ax.set_yticks(y, labels)
    axes[0].set_ylabel("method")
    fig.suptitle(f"{name}: paired differences with 95% hierarchical bootstrap intervals")
    return fig


def attack_forest_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """Each method's difference from the baseline under attack, one marker per budget
    with its 95% interval, one panel per language group."""
    diffs = {label: d for label, d in task.get("attack_differences", {}).items() if "note" not in d}
    if not diffs:
        return None
    first = next(iter(diffs.values()))
    m = next((k for k in first if k in task["metrics"]), None)
    if m is None:
        return None
    groups = [g for g in ATTACK_GROUP_TITLES if any(g in d.get("groups", {}) for d in diffs.values())]
    labels = list(diffs)
    keys = sorted({k for d in diffs.values() for k in d[m]}, key=float)
    fig = _figure(4.6 * len(groups) + 1.2, 1.4 + 0.55 * len(labels))
    axes = fig.subplots(1, len(groups), squeeze=False, sharey=True)[0]
    y = np.arange(len(labels))[::-1]
    offsets = np.linspace(-0.2, 0.2, len(keys)) if len(keys) > 1 else np.zeros(1)
    for ax, group in zip(axes, groups, strict=True):
        for k, offset, colour in zip(keys, offsets, [f"C{i}" for i in range(len(keys))], strict=True):
            xs: list[float] = []
            ys: list[float] = []
            errs: list[list[float]] = [[], []]
            for yi, label in zip(y, labels, strict=True):
                d = diffs[label][m].get(k, {}).get(group)
                if d is None:
                    continue
                xs.append(d["difference"])
                ys.append(yi + offset)
                low = d["ci_low"] if d["ci_low"] is not None else d["difference"]
                high = d["ci_high"] if d["ci_high"] is not None else d["difference"]
                errs[0].append(d["difference"] - low)
                errs[1].append(high - d["difference"])
            if xs:
                ax.errorbar(xs, ys, xerr=errs, fmt="o", capsize=3, color=colour, label=f"budget {float(k):.0%}")
        ax.axvline(0.0, color="grey", linewidth=1, linestyle="--")
        ax.set_xlabel(f"{_title(m)} minus {task['baseline']}'s (points)")
        members: list[str] = next((d["groups"][group] for d in diffs.values() if group in d.get("groups", {})), [])
        ax.set_title(f"{ATTACK_GROUP_TITLES[group]}: {', '.join(members)}")
        ax.set_yticks(y, labels)
    axes[0].set_ylabel("method")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, title="attack budget", fontsize="small", loc="outside right upper")
    fig.suptitle(f"{name}: paired differences under attack with 95% hierarchical bootstrap intervals")
    return fig


def cost_figure(name: str, task: dict[str, Any]) -> Figure | None:
    """Median step time per method as a ratio to the baseline's (seconds when there is
    no baseline)."""
    cost = task["cost"]
    labels = [label for label, c in cost.items() if c["median_s_per_step"] is not None]
    if not labels:
        return None
    ratio = task["baseline"] is not None and all(cost[label]["ratio_to_baseline"] is not None for label in labels)
    values = [cost[label]["ratio_to_baseline"] if ratio else cost[label]["median_s_per_step"] for label in labels]
    fig = _figure(max(4.0, 0.9 * len(labels) + 1.5), 3.6)
    ax = fig.add_subplot()
    bars = ax.bar(range(len(labels)), values, color="C1")
    for bar, label in zip(bars, labels, strict=True):
        ax.annotate(f"{cost[label]['median_s_per_step']:.2f} s", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_xlabel("method")
    ax.set_ylabel(f"median s/step, ratio to {task['baseline']} (x)" if ratio else "median step time (s/step)")
    if ratio:
        ax.axhline(1.0, color="grey", linewidth=1, linestyle="--")
    ax.set_title(f"{name}: training cost (labels: median s/step)")
    return fig
