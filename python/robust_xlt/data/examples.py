"""Typed examples shared by every task loader, and the label vocabularies.

Label names are kept in the order the benchmarks' own code uses, so the integer
labels here match XTREME's and the hub datasets' class indices.
"""

from __future__ import annotations

from dataclasses import dataclass

# PAWS-X labels are written as "0" (not a paraphrase) and "1" (paraphrase).
PAWSX_LABELS: tuple[str, ...] = ("0", "1")
# XNLI / MultiNLI order, also the ClassLabel order of the `xnli` hub dataset.
XNLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True, slots=True)
class PairExample:
    """A sentence-pair classification example (PAWS-X, XNLI).

    ``id`` is the file's own id where it has one (official layouts); otherwise the
    0-based data-row index, which is the same for every language of a row-aligned
    benchmark file, so translations of one row share an id.
    """

    id: str
    text_a: str
    text_b: str
    label: int
    lang: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A gold answer span; ``start`` is a code-point (Python ``str``) offset."""

    text: str
    start: int


@dataclass(frozen=True, slots=True)
class QAExample:
    """An extractive QA example; every answer satisfies
    ``context[a.start : a.start + len(a.text)] == a.text`` (the loaders check it)."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    lang: str


Example = PairExample | QAExample
