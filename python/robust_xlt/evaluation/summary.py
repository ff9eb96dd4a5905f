"""Per-language scores and their averages, as JSON and as a markdown table."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

METRIC_TITLES = {"accuracy": "accuracy", "f1": "F1", "exact_match": "EM", "lang_f1": "lang F1", "lang_exact_match": "lang EM"}


def summarize(
    scores: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    source_lang: str,
    low_resource_langs: Sequence[str],
) -> dict[str, Any]:
    """Per-language scores and their averages: over every language (XTREME's average,
    the source language included), over the target languages, and over the
    low-resource ones (None when none of them was evaluated)."""
    langs = list(scores)
    targets = [lang for lang in langs if lang != source_lang]
    low = [lang for lang in low_resource_langs if lang in scores]
    unscored = [lang for lang in low_resource_langs if lang not in scores]
    if unscored:
        log.warning("low-resource language(s) %s not evaluated: left out of the low-resource average", ", ".join(unscored))
    return {
        "metrics": list(metrics),
        "languages": {lang: dict(s) for lang, s in scores.items()},
        "average": _mean(scores, langs, metrics),
        "target_average": _mean(scores, targets, metrics),
        "low_resource_average": _mean(scores, low, metrics),
        "source_lang": source_lang,
        "target_langs": targets,
        "low_resource_langs": low,
    }


def best_dev_records(steps: Sequence[Mapping[str, Any]], selection_metric: str, skip: str | None = None) -> dict[str, Mapping[str, Any]]:
    """Per language, the record (``step``, ``lang``, ``dev`` scores or None) of the
    step its own dev rows scored best; ties keep the earlier step. ``skip``: a
    language left out (the source, which its own dev set selects)."""
    best: dict[str, Mapping[str, Any]] = {}
    for record in steps:
        lang, dev = record["lang"], record["dev"]
        if lang == skip or dev is None:
            continue
        if lang not in best or dev[selection_metric] > best[lang]["dev"][selection_metric]:
            best[lang] = record
    return best


def oracle_selection(
    steps: Sequence[Mapping[str, Any]],
    selected: Mapping[str, Any],
    selection_metric: str,
    metrics: Sequence[str],
    low_resource_langs: Sequence[str],
    dev_counts: Mapping[str, int],
) -> dict[str, Any]:
    """Oracle scores: each target language's evaluation scores at the step where its
    own dev rows scored best (ties keep the earlier step), from ``steps`` (one record
    per evaluation step and language: ``step``, ``lang``, ``dev`` scores or None,
    ``eval`` scores). The source language keeps the score ``selected`` (the summary
    of the model its own dev set chose), so the averages differ from it only where a
    target language's own dev set would have chosen another step."""
    source = selected["source_lang"]
    best = best_dev_records(steps, selection_metric, skip=source)
    scores: dict[str, Mapping[str, float]] = {}
    for lang in selected["languages"]:
        if lang == source:
            scores[lang] = selected["languages"][lang]
        elif lang in best:
            scores[lang] = best[lang]["eval"]
    return {
        "selection": f"per target language, on its own dev rows ({selection_metric}); {source}: its dev set's choice",
        "dev_examples": dict(dev_counts),
        "steps": {lang: int(record["step"]) for lang, record in best.items()},
        "dev": {lang: float(record["dev"][selection_metric]) for lang, record in best.items()},
        **summarize(scores, metrics, source, low_resource_langs),
    }


def _mean(scores: Mapping[str, Mapping[str, float]], langs: Sequence[str], names: Sequence[str]) -> dict[str, float] | None:
    if not langs:
        return None
    return {name: float(np.mean([scores[lang][name] for lang in langs])) for name in names}


def markdown_table(summary: Mapping[str, Any]) -> str:
    """A GitHub-markdown table: one row per language, then the averages."""
    names = summary["metrics"]
    source = summary["source_lang"]
    low = set(summary["low_resource_langs"])
    header = "| language | " + " | ".join(METRIC_TITLES[n] for n in names) + " | examples |"
    rule = "|---|" + "---:|" * (len(names) + 1)
    rows = [header, rule]
    for lang, s in summary["languages"].items():
        tag = " (source)" if lang == source else (" (low-resource)" if lang in low else "")
        rows.append(f"| {lang}{tag} | " + " | ".join(f"{s[n]:.2f}" for n in names) + f" | {int(s['count'])} |")

    def avg_row(title: str, values: Mapping[str, float] | None) -> None:
        if values is not None:
            rows.append(f"| {title} | " + " | ".join(f"{values[n]:.2f}" for n in names) + " | |")

    langs = list(summary["languages"])
    avg_row(f"**average** ({len(langs)} languages)", summary["average"])
    avg_row(f"target average ({', '.join(summary['target_langs'])})", summary["target_average"])
    avg_row(f"low-resource average ({', '.join(summary['low_resource_langs'])})", summary["low_resource_average"])
    return "\n".join(rows) + "\n"
