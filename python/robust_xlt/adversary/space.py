"""The search space of a batch: each example's texts, its eligible words and their
candidates from the Rust core, and its budget.

An example's texts ("slots") are what the task record's ``rewrite`` hands a text
method: for pairs (text_a, text_b), for QA (question, context) with the answers
protected. They are read by calling ``rewrite`` with a function that keeps the texts,
so nothing here branches on the task; ``rewrite`` lists the n examples' first texts,
then their second texts, and so on (slot-major), which is checked. Adversarial
examples are rebuilt by ``rewrite`` too, with every protected span carried onto the
new text by the perturbation's span map.

Cost: per language of the batch, one ``candidates`` and one ``segment_words`` call
over all its texts, and one ``rewrite`` (no model work).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from robust_xlt._core import Lexicon, Perturbation
from robust_xlt.adversary.config import AttackConfig
from robust_xlt.perturbation import Span, candidates, segment_words

__all__ = ["ExampleSpace", "Substitution", "apply", "build_space", "max_changes", "rebuild", "slots_of", "target_languages"]

Spans = list[list[Span]]


@dataclass(frozen=True, slots=True)
class Substitution:
    """Replace ``original`` at code points [start, end) of the example's text ``slot``."""

    slot: int
    start: int
    end: int
    original: str
    replacement: str
    lang: str


@dataclass(frozen=True)
class ExampleSpace:
    texts: tuple[str, ...]
    lang: str
    # Words of all its texts (segmentation with the lexicon and stop words, as perturb counts).
    words: int
    max_changes: int
    # Every candidate substitution; a word is (slot, start), and appears once per candidate.
    substitutions: tuple[Substitution, ...]
    # Per text, the spans no edit may touch (the task's and the caller's).
    protect: tuple[tuple[Span, ...], ...]


def max_changes(budget: float, words: int) -> int:
    """Words an example of ``words`` words may change: the floor of budget x words (a
    1e-9 slack absorbs float error, so 0.3 x 10 allows 3), never more than the budget."""
    return int(math.floor(budget * words + 1e-9))


def slots_of(task: Any, examples: Sequence[Any]) -> tuple[list[tuple[str, ...]], list[tuple[tuple[Span, ...], ...]]]:
    """(texts, protected spans) of each example, as ``task.rewrite`` presents them."""
    seen: dict[str, Any] = {}

    def keep(texts: list[str], protect: Spans | None) -> tuple[list[str], Spans | None]:
        seen["texts"], seen["protect"] = list(texts), protect
        return texts, protect

    task.rewrite(list(examples), keep)
    flat: list[str] = seen["texts"]
    n = len(examples)
    if n == 0:
        return [], []
    if len(flat) % n:
        raise ValueError(f"task {task.name}: rewrite gave {len(flat)} texts for {n} examples, not a multiple")
    k = len(flat) // n
    protect: Spans = seen["protect"] if seen["protect"] is not None else [[] for _ in flat]
    texts = [tuple(flat[s * n + i] for s in range(k)) for i in range(n)]
    spans = [tuple(tuple(protect[s * n + i]) for s in range(k)) for i in range(n)]
    return texts, spans


def build_space(
    task: Any,
    examples: Sequence[Any],
    lexicon: Lexicon,
    config: AttackConfig,
    protect: Sequence[Sequence[Sequence[Span]]] | None = None,
) -> list[ExampleSpace]:
    """Each example's search space. ``protect``: per example and text, spans the
    caller keeps (added to the task's own, e.g. QA answers)."""
    texts, task_protect = slots_of(task, examples)
    if protect is not None and len(protect) != len(examples):
        raise ValueError(f"protect has {len(protect)} entries for {len(examples)} examples")
    merged = [
        tuple(tuple(sorted({*own, *((a, b) for a, b in (protect[i][s] if protect is not None else ()))})) for s, own in enumerate(spans))
        for i, spans in enumerate(task_protect)
    ]
    by_lang: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_lang.setdefault(ex.lang, []).append(i)
    found: dict[int, list[Any]] = {}
    words: dict[int, int] = {}
    for lang, members in by_lang.items():
        flat = [(i, s) for i in members for s in range(len(texts[i]))]
        group = [texts[i][s] for i, s in flat]
        spans = [list(merged[i][s]) for i, s in flat]
        targets = target_languages(config, lexicon, lang)
        per_text = candidates(
            group, lang, lexicon, mode=config.mode, target_langs=targets, protect=spans, stopwords=config.stopwords
        )
        counts = segment_words(group, lang, lexicon, stopwords=config.stopwords)
        for (i, s), cands, segmented in zip(flat, per_text, counts, strict=True):
            found.setdefault(i, []).extend((s, c) for c in cands)
            words[i] = words.get(i, 0) + len(segmented)
    out = []
    for i, ex in enumerate(examples):
        subs = tuple(
            Substitution(s, start, end, word, replacement, lang)
            for s, (start, end, word, groups) in found.get(i, [])
            for lang, replacements in groups
            for replacement in replacements
        )
        n_words = words.get(i, 0)
        out.append(ExampleSpace(texts[i], ex.lang, n_words, max_changes(config.budget, n_words), subs, merged[i]))
    return out


def target_languages(config: AttackConfig, lexicon: Lexicon, lang: str) -> list[str] | None:
    """The languages an attack on ``lang`` text translates into: none in synonym mode,
    else ``config.target_langs`` or every other language of the lexicon."""
    if config.mode == "synonym":
        return None
    if config.target_langs is not None:
        return list(config.target_langs)
    return [other for other in lexicon.languages() if other != lang]


def apply(spaces: Sequence[ExampleSpace], chosen: Sequence[Sequence[Substitution]]) -> list[list[Perturbation]]:
    """Each example's texts with its substitutions made, per text: one ``apply_edits``
    call for all texts of all examples (a search round's whole batch of variants)."""
    from robust_xlt.perturbation import apply_edits

    flat_texts: list[str] = []
    flat_edits: list[list[tuple[int, int, str, str]]] = []
    for space, subs in zip(spaces, chosen, strict=True):
        for slot, text in enumerate(space.texts):
            flat_texts.append(text)
            flat_edits.append(sorted((s.start, s.end, s.replacement, s.lang) for s in subs if s.slot == slot))
    done = apply_edits(flat_texts, flat_edits)
    out, at = [], 0
    for space in spaces:
        out.append(done[at : at + len(space.texts)])
        at += len(space.texts)
    return out


def rebuild(task: Any, examples: Sequence[Any], perturbed: Sequence[Sequence[Perturbation]]) -> list[Any]:
    """The examples with their texts replaced, through ``task.rewrite``: each protected
    span (a QA answer) is carried onto its new text by the span map."""
    n = len(examples)
    if n == 0:
        return []
    k = len(perturbed[0])
    flat = [perturbed[i][s] for s in range(k) for i in range(n)]

    def replace(texts: list[str], protect: Spans | None) -> tuple[list[str], Spans | None]:
        mapped = None if protect is None else [[p.map_span(a, b) for a, b in spans] for p, spans in zip(flat, protect, strict=True)]
        return [p.text for p in flat], mapped

    return task.rewrite(list(examples), replace)
