"""`align_words` (one Rust call per batch) against the pure-Python reference it replaced.

Accepted differences, each tested below:
- order: the core lists pairs row-major over tokens, then by word start; the
  reference went slot by slot (in the order slots first appear in the owner's words)
  within a row. They agree whenever a row's tokens come in that slot order, as every
  encoding of the project's tasks does (the first text, then the second; the
  question, then the context), and always after a stable sort by token.
- overlapping words of one text raise ValueError; the reference bisected an unsorted
  list of ends and paired whatever it found. No segmentation produces them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_align import reference_align_words
from robust_xlt import _core
from robust_xlt.adversary.ranking import align_words
from robust_xlt.adversary.victims import GradientPass

Token = tuple[int, int, int]  # slot, start, end
Words = list[list[Token]]
PAD: Token = (-1, 0, 0)


def batch(owner: Sequence[int], rows: Sequence[Sequence[Token]], length: int | None = None) -> GradientPass:
    """A gradient pass with the given token rows, padded with special tokens."""
    length = max((len(r) for r in rows), default=0) if length is None else length
    grid = np.array([list(r) + [PAD] * (length - len(r)) for r in rows], dtype=np.int64).reshape(len(rows), length, 3)
    zeros = torch.zeros(len(rows), length, 1)
    return GradientPass(np.asarray(owner, dtype=np.int64), grid[..., 0], grid[..., 1], grid[..., 2], zeros, zeros)


def pairs(out: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    tokens, words = out
    assert tokens.dtype == np.int64 and words.dtype == np.int64
    return list(zip(tokens.tolist(), words.tolist(), strict=True))


def by_token(out: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, int]]:
    """The reference's pairs stably sorted by token: the core's order."""
    return sorted(pairs(out), key=lambda p: p[0])


def check(words: Words, grads: GradientPass) -> list[tuple[int, int]]:
    """The core's pairs, after checking them against the reference's, order included."""
    got = pairs(align_words(words, grads))
    assert got == pairs(reference_align_words(words, grads))
    return got


# ---------------------------------------------------------------- hand-made cases


def test_pieces_map_to_their_words_and_specials_to_none() -> None:
    # <s> "big dog" </s> </s> "ran" </s>, "dog" in two pieces
    words = [[(0, 0, 3), (0, 4, 7), (1, 0, 3)]]
    row = [PAD, (0, 0, 3), (0, 4, 5), (0, 5, 7), PAD, PAD, (1, 0, 3), PAD]
    assert check(words, batch([0], [row])) == [(1, 0), (2, 1), (3, 1), (6, 2)]


def test_overlapping_pieces_each_count() -> None:
    # A lone "▁" piece with the offsets of the piece after it, as SentencePiece gives.
    words = [[(0, 0, 5), (0, 6, 9)]]
    row = [(0, 0, 5), (0, 6, 9), (0, 6, 9), (0, 4, 7)]
    assert check(words, batch([0], [row])) == [(0, 0), (1, 1), (2, 1), (3, 0), (3, 1)]


def test_a_han_piece_straddling_two_words_counts_for_both() -> None:
    # 北京大学 segmented 北京 | 大学, tokenized 北 | 京大 | 学; then 很 | 好 as one piece.
    words = [[(0, 0, 2), (0, 2, 4), (0, 4, 5), (0, 5, 6)]]
    row = [PAD, (0, 0, 1), (0, 1, 3), (0, 3, 4), (0, 4, 6), PAD]
    assert check(words, batch([0], [row])) == [(1, 0), (2, 0), (2, 1), (3, 1), (4, 2), (4, 3)]


def test_empty_and_backwards_spans_are_skipped() -> None:
    words = [[(0, 0, 3), (0, 3, 3), (0, 4, 6)]]
    row = [(0, 2, 2), (0, 5, 4), (0, 0, 0), (0, 2, 5), (1, 0, 3)]
    # The empty word at 3 lies inside the token (2, 5), as the reference had it.
    assert check(words, batch([0], [row])) == [(3, 0), (3, 1), (3, 2)]


def test_a_truncated_row_leaves_words_unpaired() -> None:
    words = [[(0, 0, 4), (0, 5, 8), (0, 9, 12), (1, 0, 2), (1, 3, 9)]]
    row = [PAD, (0, 0, 4), (0, 5, 7), PAD, PAD, (1, 0, 2), PAD]  # cut mid-word, twice
    assert check(words, batch([0], [row], length=10)) == [(1, 0), (2, 1), (5, 3)]


def test_qa_windows_share_their_example_and_word_ids_run_over_examples() -> None:
    # Example 0: question words (slot 0), context words (slot 1); two windows over the
    # context with an overlap of one piece. Example 1: one window, no words at all.
    # Example 2: one window; its word ids follow example 0's.
    words = [[(0, 0, 4), (1, 0, 5), (1, 6, 11), (1, 12, 15)], [], [(1, 0, 3)]]
    first = [PAD, (0, 0, 4), PAD, (1, 0, 5), (1, 6, 9), PAD]
    second = [PAD, (0, 0, 4), PAD, (1, 6, 9), (1, 9, 11), (1, 12, 15), PAD]
    third = [PAD, (0, 0, 2), PAD, (1, 0, 3), PAD]
    got = check(words, batch([0, 0, 1, 2], [first, second, third, third]))
    w = 7  # row length
    assert got == [(1, 0), (3, 1), (4, 2), (w + 1, 0), (w + 3, 2), (w + 4, 2), (w + 5, 3), (3 * w + 3, 4)]


def test_words_listed_out_of_order_keep_their_indices() -> None:
    words = [[(0, 6, 9), (0, 0, 5)]]
    row = [(0, 0, 9)]
    assert check(words, batch([0], [row])) == [(0, 1), (0, 0)]


def test_no_rows_and_no_words() -> None:
    assert check([], batch([], [])) == []
    assert check([[], []], batch([0, 1], [[(0, 0, 3)], [PAD]])) == []


def test_order_differs_only_when_a_row_breaks_the_slot_order() -> None:
    # The owner lists slot 1's word first, the row holds slot 0's token first.
    words = [[(1, 0, 3), (0, 0, 3)]]
    grads = batch([0], [[(0, 0, 3), (1, 0, 3)]])
    got = pairs(align_words(words, grads))
    reference = reference_align_words(words, grads)
    assert pairs(reference) == [(1, 0), (0, 1)]
    assert got == [(0, 1), (1, 0)] == by_token(reference)


def test_overlapping_words_are_an_error() -> None:
    words = [[(0, 0, 5), (0, 3, 8)]]
    with pytest.raises(ValueError, match=r"example 0: words 0 \(0, 5\) and 1 \(3, 8\) of slot 0 overlap"):
        align_words(words, batch([0], [[(0, 0, 8)]]))


def test_bad_arguments_raise_value_error() -> None:
    grads = batch([0], [[(0, 0, 3)]])
    with pytest.raises(ValueError, match="row 0 is owned by example 1, but there are 1 examples"):
        align_words([[(0, 0, 3)]], batch([1], [[(0, 0, 3)]]))
    with pytest.raises(ValueError, match="ends before it starts"):
        align_words([[(0, 3, 1)]], grads)
    with pytest.raises(ValueError, match="slot -1"):
        align_words([[(-1, 0, 1)]], grads)
    i64 = np.int64
    one = np.zeros((1, 1), dtype=i64)
    with pytest.raises(ValueError, match=r"token_end has shape \[1, 2\], token_slot \[1, 1\]"):
        _core.align_words([[]], np.zeros(1, i64), one, one, np.zeros((1, 2), i64))
    with pytest.raises(ValueError, match="row_owner has 2 entries for 1 rows"):
        _core.align_words([[]], np.zeros(2, i64), one, one, one)
    with pytest.raises(ValueError, match="expected tuple of length 3"):
        # A 2-tuple on purpose: the core must reject the malformed word span.
        _core.align_words([[(0, 1)]], np.zeros(1, i64), one, one, one)  # type: ignore[list-item]


def test_strided_inputs_are_read_in_logical_order() -> None:
    words = [[(0, 0, 3), (0, 4, 7)]]
    grads = batch([0, 0], [[(0, 0, 3), (0, 4, 7)], [(0, 4, 7), PAD]])
    flipped = GradientPass(
        grads.row_owner, grads.token_slot.T.copy().T, grads.token_start.T.copy().T, grads.token_end.T.copy().T, grads.embeds, grads.grad
    )
    assert not flipped.token_slot.flags.c_contiguous
    assert check(words, flipped) == [(0, 0), (1, 1), (2, 1)]


# ---------------------------------------------------------------- property


@st.composite
def batches(draw: st.DrawFn) -> tuple[Words, GradientPass]:
    """Examples whose texts (slots 0-2) hold non-overlapping words, some empty, listed
    in any order; rows of random tokens (any slot, -1 included; overlapping, empty or
    backwards spans), several rows per example."""
    n_examples = draw(st.integers(0, 4))
    words: Words = []
    for _ in range(n_examples):
        mine: list[Token] = []
        for slot in range(draw(st.integers(0, 3))):
            cuts = sorted(draw(st.lists(st.integers(0, 30), max_size=12)))
            mine.extend((slot, a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False))
        words.append(draw(st.permutations(mine)))
    rows = draw(st.integers(0, 6)) if n_examples else 0
    owner = [draw(st.integers(0, n_examples - 1)) for _ in range(rows)]
    length = draw(st.integers(0, 12))
    token = st.tuples(st.integers(-1, 2), st.integers(0, 32), st.integers(0, 32))
    grid = [draw(st.lists(token, min_size=length, max_size=length)) for _ in range(rows)]
    return words, batch(owner, grid, length)


@settings(max_examples=300, deadline=None)
@given(batches())
def test_matches_the_reference_on_random_spans(case: tuple[Words, GradientPass]) -> None:
    words, grads = case
    assert pairs(align_words(words, grads)) == by_token(reference_align_words(words, grads))
