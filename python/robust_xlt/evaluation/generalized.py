"""Generalized cross-lingual evaluation: examples whose two parts come from different
languages (Robust-XLT's "generalized" setting, where its gains were largest; MLQA's
G-XLT for QA).

From parallel evaluation sets (example ``id`` of every language is a translation of
the same example), the cell (A, B) scores examples made of language A's first part
and language B's second part, for every ordered pair of languages, on the ids all
languages hold, in the first language's order. The task record's :class:`Mixing`
says what the parts are: a pair's first and second sentence (PAWS-X, XNLI), or a
question and the context with its answers (QA; MLQA and XQuAD files are parallel,
TyDiQA-GoldP's are not). The diagonal is the ordinary per-language evaluation on
those ids. One language gives a 1x1 matrix and no mixed-language average.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from robust_xlt.data import Example
from robust_xlt.evaluation.evaluate import evaluate
from robust_xlt.evaluation.summary import METRIC_TITLES
from robust_xlt.tasks import TASKS, InputSettings, Mixing, Task

log = logging.getLogger(__name__)


def generalized_sets(
    sets: Mapping[str, Sequence[Example]], task: Task | None = None, *, sources: Mapping[str, str] | None = None
) -> dict[tuple[str, str], list[Example]]:
    """Every ordered pair of languages' mixed examples, on the ids every language
    holds, in the first language's order. ``task`` defaults to the one whose examples
    these are; ``sources`` (language -> file) names the files in errors. Files that
    share no id are a ValueError: they are not parallel."""
    mixing = _mixing(task if task is not None else _task_of(sets))
    langs = list(sets)
    by_id = {lang: {ex.id: ex for ex in exs} for lang, exs in sets.items()}
    common = [ex.id for ex in sets[langs[0]] if all(ex.id in by_id[lang] for lang in langs)] if langs else []
    if langs and not common:
        raise ValueError(_not_parallel(langs, by_id, sources or {}))
    return {(a, b): [mixing.build(by_id[a][i], by_id[b][i], f"{a}-{b}") for i in common] for a in langs for b in langs}


def evaluate_generalized(
    task: Task,
    model: Any,
    tokenizer: Any,
    sets: Mapping[str, Sequence[Any]],
    settings: InputSettings,
    device: torch.device,
    *,
    sources: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the matrices as JSON, one prediction record per (cell, example), with the
    cell's languages as ``first`` and ``second``).

    The JSON: ``languages`` (row = language of the first part, column = of the second;
    ``rows`` and ``columns`` name the parts), ``metrics`` (the task's), one matrix per
    metric (``accuracy[a][b]``; QA ``f1[a][b]``, ``exact_match[a][b]``, ...),
    ``count`` (examples per cell), ``not_common`` (per language, examples left out for
    lack of a copy in some language), ``averages[metric]`` with the mean over the
    diagonal (``same``) and over the off-diagonal cells (``mixed``, None with one
    language), and ``same_average`` / ``mixed_average``, those of the task's selection
    metric. ``sources`` (language -> file) names the files in errors."""
    mixing = _mixing(task)
    mixed = generalized_sets({lang: task.examples(exs) for lang, exs in sets.items()}, task, sources=sources)
    langs = list(sets)
    matrices: dict[str, dict[str, dict[str, float]]] = {m: {a: {} for a in langs} for m in task.metrics}
    records: list[dict[str, Any]] = []
    count = 0
    for (a, b), examples in mixed.items():
        scores, recs = evaluate(task, model, tokenizer, examples, settings, device)
        for m in task.metrics:
            matrices[m][a][b] = scores[m]
        count = int(scores["count"])
        records.extend({"first": a, "second": b, **r} for r in recs)
    not_common = {lang: len(exs) - count for lang, exs in sets.items()}
    if any(not_common.values()):
        log.warning(
            "generalized: %d examples a language pair, on the ids every language holds; left out: %s",
            count,
            ", ".join(f"{lang} {n}" for lang, n in not_common.items()),
        )
    if len(langs) == 1:
        log.warning("generalized: one language (%s) gives a 1x1 matrix and no mixed-language pairs", langs[0])
    averages = {m: _averages(matrices[m], langs) for m in task.metrics}
    summary = {
        "languages": langs,
        "rows": mixing.first_part,
        "columns": mixing.second_part,
        "metrics": list(task.metrics),
        **matrices,
        "count": count,
        "not_common": not_common,
        "averages": averages,
        "same_average": averages[task.selection_metric]["same"],
        "mixed_average": averages[task.selection_metric]["mixed"],
    }
    return summary, records


def matrix_table(summary: Mapping[str, Any]) -> str:
    """The matrices as markdown, one per metric: rows the first part's language,
    columns the second part's, each followed by its two averages."""
    langs = summary["languages"]
    out = [
        f"Generalized setting: row = language of the {summary['rows']}, column = language of the {summary['columns']} "
        f"({summary['count']} examples a cell, on the ids every language holds).",
        "",
    ]
    for m in summary["metrics"]:
        out.append(f"{METRIC_TITLES.get(m, m)}:")
        out.append("")
        out.append("| first \\\\ second | " + " | ".join(langs) + " |")
        out.append("|---|" + "---:|" * len(langs))
        for a in langs:
            out.append(f"| {a} | " + " | ".join(f"{summary[m][a][b]:.1f}" for b in langs) + " |")
        out.append("")
        same, mixed = summary["averages"][m]["same"], summary["averages"][m]["mixed"]
        mixed_text = "none (one language)" if mixed is None else f"{mixed:.2f}"
        out.append(f"Same-language average {same:.2f}, mixed-language average {mixed_text}.")
        out.append("")
    return "\n".join(out)


def _averages(matrix: Mapping[str, Mapping[str, float]], langs: Sequence[str]) -> dict[str, float | None]:
    diagonal = [matrix[a][a] for a in langs]
    off = [matrix[a][b] for a in langs for b in langs if a != b]
    return {
        "same": sum(diagonal) / len(diagonal) if diagonal else None,
        "mixed": sum(off) / len(off) if off else None,
    }


def _mixing(task: Task) -> Mixing:
    if task.mixing is None:
        raise ValueError(f"task {task.name} has no generalized setting: its examples have no parts to take from two languages")
    return task.mixing


def _task_of(sets: Mapping[str, Sequence[Example]]) -> Task:
    """The task whose examples ``sets`` holds (tasks sharing an example type share its mixing)."""
    first = next((ex for exs in sets.values() for ex in exs), None)
    task = next((t for t in TASKS.values() if first is not None and isinstance(first, t.example_type)), None)
    if task is None:
        raise ValueError("no examples to mix" if first is None else f"no task takes {type(first).__name__}s")
    return task


def _not_parallel(langs: Sequence[str], by_id: Mapping[str, Mapping[str, Any]], sources: Mapping[str, str]) -> str:
    """Why files sharing no id cannot be mixed, naming the languages and files."""

    def where(lang: str) -> str:
        n = len(by_id[lang])
        ids = f"{n} id" if n == 1 else f"{n} ids"
        return f"{lang} ({sources[lang]}, {ids})" if lang in sources else f"{lang} ({ids})"

    disjoint = next(
        ((a, b) for i, a in enumerate(langs) for b in langs[i + 1 :] if not by_id[a].keys() & by_id[b].keys()),
        None,
    )
    if disjoint is not None:
        what = f"{where(disjoint[0])} and {where(disjoint[1])} share no example id"
    else:
        what = "no example id is in every language's file: " + ", ".join(where(lang) for lang in langs)
    return (
        f"the evaluation files are not parallel: {what}. Generalized evaluation needs files whose ids are "
        "translations of the same example in every language (as MLQA's and XQuAD's are; TyDiQA-GoldP's ids "
        "differ per language)"
    )
