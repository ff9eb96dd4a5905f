"""Token/word alignment of one adversary batch (group `align`): the pure-Python
reference (tests/reference_align.py, the loop `ranking.align_words` ran before), the
Rust batch call through `ranking.align_words` (flattening the words included), and
four quarter batches from 4 threads at once, to show the GIL is released.

Built-in synthetic batch, no shared data: 64 sentence pairs of about 40 words in
all (28 + 12, 2-9 letters each), every word cut into 1-3 pieces, encoded as
<s> a </s></s> b </s> and padded or cut to 128 tokens, as XNLI pairs reach a
gradient pass. The ratio is printed after the run. Run:
`pytest benches/bench_align.py --benchmark-only`.
"""

from __future__ import annotations

import os
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

# tests/ goes on sys.path in benches/conftest.py at run time; a `mypy benches` run does not see it.
from reference_align import reference_align_words  # type: ignore[import-not-found]
from robust_xlt.adversary.ranking import align_words
from robust_xlt.adversary.victims import GradientPass

N_EXAMPLES = 64
LENGTH = 128
WORDS_PER_TEXT = (28, 12)
SEED = 0
_MEDIANS: dict[str, float] = {}

Words = list[list[tuple[int, int, int]]]


def _text(rng: random.Random, n_words: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Word spans and piece spans of a text of `n_words` words joined by spaces."""
    words: list[tuple[int, int]] = []
    pieces: list[tuple[int, int]] = []
    at = 0
    for _ in range(n_words):
        size = rng.randint(2, 9)
        words.append((at, at + size))
        cuts = sorted(rng.sample(range(1, size), min(size - 1, rng.randint(0, 2))))
        bounds = [at, *(at + c for c in cuts), at + size]
        pieces.extend(zip(bounds, bounds[1:]))
        at += size + 1
    return words, pieces


def make_batch(n_examples: int, seed: int = SEED) -> tuple[Words, GradientPass]:
    rng = random.Random(seed)
    words: Words = []
    grid = np.zeros((n_examples, LENGTH, 3), dtype=np.int64)
    grid[..., 0] = -1
    for e in range(n_examples):
        a_words, a_pieces = _text(rng, WORDS_PER_TEXT[0] + rng.randint(-8, 8))
        b_words, b_pieces = _text(rng, WORDS_PER_TEXT[1] + rng.randint(-4, 4))
        room = LENGTH - 4
        while len(a_pieces) + len(b_pieces) > room:  # longest first, as the tokenizer cuts
            (a_pieces if len(a_pieces) >= len(b_pieces) else b_pieces).pop()
        row = [(-1, 0, 0), *((0, s, t) for s, t in a_pieces), (-1, 0, 0), (-1, 0, 0), *((1, s, t) for s, t in b_pieces)]
        row.append((-1, 0, 0))
        grid[e, : len(row)] = row
        words.append([(0, s, t) for s, t in a_words] + [(1, s, t) for s, t in b_words])
    zeros = torch.zeros(n_examples, LENGTH, 1)
    slot, start, end = (np.ascontiguousarray(grid[..., k]) for k in range(3))  # as a victim's concatenation gives
    return words, GradientPass(np.arange(n_examples), slot, start, end, zeros, zeros)


@pytest.fixture(scope="module")
def workload() -> tuple[Words, GradientPass]:
    return make_batch(N_EXAMPLES)


@pytest.fixture(scope="module")
def benchmark_data(workload) -> str:
    words, grads = workload
    n_words = sum(len(w) for w in words)
    real = int((grads.token_slot >= 0).sum())
    return (
        f"built-in synthetic batch (seed {SEED}): {N_EXAMPLES} pairs, {n_words} words, "
        f"{grads.token_slot.shape[0]} rows x {LENGTH} tokens ({real} text pieces)"
    )


def _record(benchmark, bench_report, name: str) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # untimed run
        return
    _MEDIANS[name] = stats.stats.median
    if len(_MEDIANS) == 3:
        ref, rust, threads = (_MEDIANS[k] for k in ("reference", "rust", "threads"))
        load = os.getloadavg()[0]
        bench_report.section(
            "align: token/word alignment of one batch",
            [
                f"python reference {ref * 1e6:9.1f} us",
                f"rust batch       {rust * 1e6:9.1f} us  ({ref / rust:.1f}x)",
                f"rust, 4 threads  {threads * 1e6:9.1f} us  (4 quarter batches)",
                f"1-min load {load:.2f}",
            ],
        )


def test_rust_equals_the_reference_on_the_workload(workload) -> None:
    words, grads = workload
    got, want = align_words(words, grads), reference_align_words(words, grads)
    assert len(want[0]) > N_EXAMPLES * 30  # real work: most words have pieces
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


@pytest.mark.benchmark(group="align")
def test_python_reference(benchmark, bench_report, workload) -> None:
    words, grads = workload
    tokens, _ = benchmark(reference_align_words, words, grads)
    assert len(tokens) > 0
    _record(benchmark, bench_report, "reference")


@pytest.mark.benchmark(group="align")
def test_rust_batch(benchmark, bench_report, workload) -> None:
    words, grads = workload
    tokens, _ = benchmark(align_words, words, grads)
    assert len(tokens) > 0
    _record(benchmark, bench_report, "rust")


@pytest.mark.benchmark(group="align")
def test_rust_batch_from_4_threads(benchmark, bench_report) -> None:
    quarters = [make_batch(N_EXAMPLES // 4, seed=SEED + 1 + i) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        out = benchmark(lambda: list(pool.map(lambda q: align_words(*q), quarters)))
    assert all(len(tokens) > 0 for tokens, _ in out)
    _record(benchmark, bench_report, "threads")
