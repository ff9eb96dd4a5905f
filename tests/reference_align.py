"""The pure-Python token/word alignment the Rust `align_words` replaced, kept verbatim
as the slow reference: per row and slot, the owner's words sorted by start and one
bisect per token."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from robust_xlt.adversary.victims import GradientPass


def reference_align_words(
    words: Sequence[Sequence[tuple[int, int, int]]], grads: GradientPass
) -> tuple[np.ndarray, np.ndarray]:
    """(flat token index, word index) pairs: each token of a row with every word of its
    owner's same text that its span overlaps; word indices run over all examples'
    words in order. A piece that straddles two words (an unsegmented Han run) counts
    for both. Per row, slot by slot in the order slots first appear in the owner's
    words, then token by token, then word by start."""
    first = np.cumsum([0] + [len(w) for w in words])
    rows, length = grads.token_slot.shape
    tokens, owners = [], []
    for r in range(rows):
        example = int(grads.row_owner[r])
        by_slot: dict[int, list[tuple[int, int, int]]] = {}
        for j, (slot, start, end) in enumerate(words[example]):
            by_slot.setdefault(slot, []).append((start, end, int(first[example]) + j))
        for slot, spans in by_slot.items():
            spans.sort()
            starts, ends, ids = [a for a, _, _ in spans], [b for _, b, _ in spans], [k for _, _, k in spans]
            for t in np.flatnonzero(grads.token_slot[r] == slot):
                a, b = int(grads.token_start[r, t]), int(grads.token_end[r, t])
                if b <= a:
                    continue
                k = bisect.bisect_right(ends, a)  # the first word ending after the token starts
                while k < len(starts) and starts[k] < b:
                    tokens.append(r * length + int(t))
                    owners.append(ids[k])
                    k += 1
    return np.asarray(tokens, dtype=np.int64), np.asarray(owners, dtype=np.int64)
