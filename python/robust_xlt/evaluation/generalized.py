"""Generalized cross-lingual evaluation: sentence pairs whose two sentences come from
different languages (Robust-XLT's "generalized" setting, where its gains were largest).

From row-aligned evaluation sets (row ``id`` of every language is a translation of the
same pair), the pair (A, B) scores ``text_a`` of language A with ``text_b`` of
language B, for every ordered pair of languages, on the ids all languages hold: a
matrix whose diagonal is the ordinary per-language evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from robust_xlt.data import PairExample
from robust_xlt.evaluation.evaluate import evaluate
from robust_xlt.tasks import InputSettings, Task


def generalized_sets(sets: Mapping[str, Sequence[PairExample]]) -> dict[tuple[str, str], list[PairExample]]:
    """Every ordered pair of languages' mixed examples, on the common ids in the first
    language's order. A label that differs between two languages' copies of a row is
    a ValueError naming the id: the files are not translations of each other."""
    langs = list(sets)
    by_id = {lang: {ex.id: ex for ex in exs} for lang, exs in sets.items()}
    common = [ex.id for ex in sets[langs[0]] if all(ex.id in by_id[lang] for lang in langs)] if langs else []
    for i in common:
        labels = {lang: by_id[lang][i].label for lang in langs}
        if len(set(labels.values())) > 1:
            raise ValueError(f"row {i!r} has different labels across languages ({labels}); the files are not row-aligned")
    return {
        (a, b): [
            PairExample(id=i, text_a=by_id[a][i].text_a, text_b=by_id[b][i].text_b, label=by_id[a][i].label, lang=f"{a}-{b}")
            for i in common
        ]
        for a in langs
        for b in langs
    }


def evaluate_generalized(
    task: Task, model: Any, tokenizer: Any, sets: Mapping[str, Sequence[Any]], settings: InputSettings, device: torch.device
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the accuracy matrix as JSON, one prediction record per (pair, example)).

    The matrix: ``languages`` (row = language of the first sentence, column = of the
    second), ``accuracy[a][b]``, ``count`` (examples per cell), and the mean over the
    off-diagonal cells (``mixed_average``) beside the diagonal's (``same_average``)."""
    if not task.row_aligned:
        raise ValueError(f"task {task.name} has no row-aligned pairs: generalized evaluation needs sentence pairs")
    mixed = generalized_sets({lang: task.examples(exs) for lang, exs in sets.items()})
    langs = list(sets)
    matrix: dict[str, dict[str, float]] = {a: {} for a in langs}
    records: list[dict[str, Any]] = []
    count = 0
    for (a, b), examples in mixed.items():
        scores, recs = evaluate(task, model, tokenizer, examples, settings, device)
        matrix[a][b] = scores["accuracy"]
        count = int(scores["count"])
        records.extend({"first": a, "second": b, **r} for r in recs)
    off = [matrix[a][b] for a in langs for b in langs if a != b]
    diagonal = [matrix[a][a] for a in langs]
    summary = {
        "languages": langs,
        "accuracy": matrix,
        "count": count,
        "same_average": sum(diagonal) / len(diagonal) if diagonal else None,
        "mixed_average": sum(off) / len(off) if off else None,
    }
    return summary, records


def matrix_table(summary: Mapping[str, Any]) -> str:
    """The matrix as markdown: rows the first sentence's language, columns the second's."""
    langs = summary["languages"]
    rows = ["| first \\\\ second | " + " | ".join(langs) + " |", "|---|" + "---:|" * len(langs)]
    for a in langs:
        rows.append(f"| {a} | " + " | ".join(f"{summary['accuracy'][a][b]:.1f}" for b in langs) + " |")
    rows.append("")
    rows.append(
        f"Same-language average {summary['same_average']:.2f}, mixed-language average {summary['mixed_average']:.2f} "
        f"({summary['count']} pairs a cell)."
    )
    return "\n".join(rows) + "\n"
