"""A slow, obviously correct pure-Python reference of the perturbation logic.

It re-implements, line by line, what the Rust core does once a text's words and
their candidates are known: the word counts by class, the per-text SplitMix64
generator, the choice of edits, their application and the span map. Tests feed
it the word spans and candidates the core lists and require identical output.
`reference_perturb_texts` adds a regex word splitter and dictionary lookups so
the benchmark can time a whole pure-Python pipeline against the Rust batch call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import NamedTuple

MASK = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15

Candidate = tuple[int, int, str, list[tuple[str, list[str]]]]
EditTuple = tuple[tuple[int, int], tuple[int, int], str, str, str]
Span = tuple[int, int]


class Counts(NamedTuple):
    """A text's words by class, each in the first it falls in (the order below)."""

    word_count: int
    stopword_count: int
    protected_count: int
    no_candidate_count: int
    eligible_count: int


def word_key(word: str) -> str:
    return unicodedata.normalize("NFC", word).lower()


def overlaps_protected(span: Span, protect: Sequence[Span]) -> bool:
    start, end = span
    for ps, pe in protect:
        if ps == pe:
            if start < ps < end:  # an empty span still pins its position
                return True
        elif start < pe and ps < end:
            return True
    return False


def reference_counts(
    words: Sequence[Span],
    text: str,
    stopwords: frozenset[str],
    protect: Sequence[Span],
    cands: Sequence[Candidate],
) -> Counts:
    """Counts of the words (spans from the core's segmentation) of one text: stop
    words, then words overlapping `protect`, then words with no entry in `cands`
    (the core's candidates), then eligible words."""
    with_candidates = {(start, end) for start, end, _, _ in cands}
    stop = protected = no_candidate = eligible = 0
    for span in words:
        if word_key(text[span[0] : span[1]]) in stopwords:
            stop += 1
        elif overlaps_protected(span, protect):
            protected += 1
        elif span in with_candidates:
            eligible += 1
        else:
            no_candidate += 1
    return Counts(len(words), stop, protected, no_candidate, eligible)


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class ItemRng:
    def __init__(self, seed: int, index: int) -> None:
        self.state = mix64((seed + GOLDEN_GAMMA) & MASK) ^ mix64((index + 1) & MASK)

    def next_u64(self) -> int:
        self.state = (self.state + GOLDEN_GAMMA) & MASK
        return mix64(self.state)

    def next_f64(self) -> float:
        return (self.next_u64() >> 11) * (1.0 / (1 << 53))

    def below(self, n: int) -> int:
        return (self.next_u64() * n) >> 64


def choose_edits(
    cands: Sequence[Candidate], rng: ItemRng, rate: float, max_edits: int | None
) -> list[tuple[int, int, str, str]]:
    chosen = [i for i in range(len(cands)) if rng.next_f64() < rate]
    if max_edits is not None and len(chosen) > max_edits:
        for j in range(max_edits):
            k = j + rng.below(len(chosen) - j)
            chosen[j], chosen[k] = chosen[k], chosen[j]
        chosen = sorted(chosen[:max_edits])
    edits = []
    for i in chosen:
        start, end, _word, options = cands[i]
        lang, forms = options[rng.below(len(options))]
        edits.append((start, end, forms[rng.below(len(forms))], lang))
    return edits


def apply(text: str, edits: Sequence[tuple[int, int, str, str]]) -> tuple[str, list[EditTuple]]:
    out = ""
    made = []
    cursor = 0
    for start, end, replacement, lang in sorted(edits):
        assert cursor <= start <= end <= len(text)
        out += text[cursor:start]
        new_start = len(out)
        out += replacement
        made.append(((start, end), (new_start, len(out)), text[start:end], replacement, lang))
        cursor = end
    return out + text[cursor:], made


def map_position(spans: Sequence[tuple[tuple[int, int], tuple[int, int]]], position: int, is_end: bool) -> int:
    shift = 0
    for (from_start, from_end), (to_start, to_end) in spans:
        if position <= from_start:
            break
        if position < from_end:
            return to_end if is_end else to_start
        shift += (to_end - to_start) - (from_end - from_start)
    return position + shift


def reference_perturb(
    texts: Sequence[str],
    cands: Sequence[Sequence[Candidate]],
    *,
    rate: float,
    seed: int,
    max_edits: int | None = None,
) -> list[tuple[str, list[EditTuple]]]:
    return [
        apply(text, choose_edits(cands[i], ItemRng(seed, i), rate, max_edits)) for i, text in enumerate(texts)
    ]


# ---- a whole pure-Python pipeline, for the benchmark -------------------------

# Letters, digits and marks, with inner apostrophes ("don't") as UAX #29 has them.
_WORD = re.compile(r"[^\W_](?:[\w\u0300-\u036f]|['’](?=\w))*")


def match_case(original: str, replacement: str) -> str:
    cased = [c for c in original if c.isupper() or c.islower()]
    if len(cased) >= 2 and all(c.isupper() for c in cased):
        return replacement.upper()
    if cased and cased[0].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def python_candidates(
    text: str, synonyms: Mapping[str, list[str]], lang: str, stopwords: frozenset[str]
) -> list[Candidate]:
    found: list[Candidate] = []
    for m in _WORD.finditer(text):
        word = m.group()
        key = word_key(word)
        if key in stopwords:
            continue
        # A replacement equal to the word ignoring case would change nothing.
        forms = [cased for f in synonyms.get(key, ()) if word_key(cased := match_case(word, f)) != key]
        if forms:
            found.append((m.start(), m.end(), word, [(lang, forms)]))
    return found


def reference_perturb_texts(
    texts: Sequence[str],
    synonyms: Mapping[str, list[str]],
    lang: str,
    stopwords: frozenset[str],
    *,
    rate: float,
    seed: int,
) -> list[tuple[str, list[EditTuple]]]:
    cands = [python_candidates(t, synonyms, lang, stopwords) for t in texts]
    return reference_perturb(texts, cands, rate=rate, seed=seed)
