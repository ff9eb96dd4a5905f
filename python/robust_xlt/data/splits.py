"""Zero-shot train/eval splits of row-aligned multilingual files.

In the XTREME dev files row ``i`` of every language is a translation of the same
example. Training on English row ``i`` and evaluating on German row ``i`` scores a
translation of a training example, so the split is made on row indices, once,
for all languages:

- training uses only the source language's rows of the train part;
- evaluation uses every language's rows of the eval part (the source language's
  too), so no translation of a training row is ever evaluated.

XNLI dev rows come in groups of three consecutive hypotheses of one premise
(checked on all 15 shared dev files: 830 premises x 3), so XNLI splits with
``group_size=3`` keep a premise on one side; :func:`check_premise_groups`
verifies that a file still has that shape.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

from robust_xlt.data import _tsv
from robust_xlt.data.errors import DataError
from robust_xlt.data.examples import PairExample

XNLI_GROUP_SIZE = 3  # hypotheses per premise in XNLI dev and test


def zero_shot_split(
    n_rows: int,
    train_fraction: float = 0.5,
    group_size: int = 1,
    seed: int | None = None,
) -> tuple[list[int], list[int]]:
    """(train row indices, eval row indices): disjoint, together ``range(n_rows)``, sorted.

    Rows are split in whole groups of ``group_size`` consecutive rows. With
    ``seed=None`` the first ``floor(train_fraction * groups)`` groups train and the
    rest evaluate (file order); with an int seed the groups are shuffled first, the
    same way on every platform. Each side gets at least one group.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows <= 0:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size <= 0:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(
            f"train_fraction must be between 0 and 1 (exclusive), got {train_fraction!r}"
        )
    if n_rows % group_size:
        raise ValueError(f"n_rows {n_rows} is not a whole number of groups of {group_size}")
    n_groups = n_rows // group_size
    if n_groups < 2:
        raise ValueError(
            f"{n_rows} rows make {n_groups} group(s) of {group_size}; a split needs 2 or more"
        )
    n_train = min(max(int(n_groups * train_fraction), 1), n_groups - 1)
    groups = list(range(n_groups))
    if seed is not None:
        # random.Random's shuffle is stable across Python versions and platforms.
        random.Random(seed).shuffle(groups)
    return _rows(groups[:n_train], group_size), _rows(groups[n_train:], group_size)


def select_rows(examples: Iterable[PairExample], rows: Iterable[int]) -> list[PairExample]:
    """The examples whose row index is in ``rows``, in their original order.

    Needs row-indexed examples, i.e. loaded from an XTREME-layout file, whose ids
    are row indices; rows skipped at load time (PAWS-X ``NS`` placeholders) are
    simply absent. Official-layout ids are the release's own ids, not row indices.
    """
    wanted = set(rows)
    selected = []
    for ex in examples:
        if not ex.id.isdigit():
            raise ValueError(
                f"example id {ex.id!r} ({ex.lang}) is not a row index; select_rows needs examples "
                "loaded from XTREME-layout files"
            )
        if int(ex.id) in wanted:
            selected.append(ex)
    return selected


def check_row_counts(paths: Iterable[str | PathLike[str]], *, header: bool = False) -> int:
    """The common number of data rows of row-aligned files.

    Raises DataError naming each file whose count differs from the count most
    files share (the first file's on a tie), with both counts.
    """
    counts = {Path(p): len(_tsv.read_lines(p)) - int(header) for p in paths}
    if not counts:
        raise ValueError("check_row_counts needs at least one file")
    expected = Counter(counts.values()).most_common(1)[0][0]
    wrong = [f"{p} has {n} rows" for p, n in counts.items() if n != expected]
    if wrong:
        raise DataError(
            f"row counts disagree: {'; '.join(wrong)}; "
            f"the other {len(counts) - len(wrong)} file(s) have {expected} rows",
            path=next(p for p, n in counts.items() if n != expected),
        )
    return expected


def check_premise_groups(
    examples: Sequence[PairExample], group_size: int = XNLI_GROUP_SIZE
) -> None:
    """Check that each run of ``group_size`` consecutive examples shares one premise."""
    if len(examples) % group_size:
        raise DataError(f"{len(examples)} examples are not whole groups of {group_size}")
    for start in range(0, len(examples), group_size):
        group = examples[start : start + group_size]
        odd = next((ex for ex in group if ex.text_a != group[0].text_a), None)
        if odd is not None:
            raise DataError(
                f"rows {start}-{start + group_size - 1} ({group[0].lang}) do not share a premise: "
                f"example {odd.id!r} has {odd.text_a[:60]!r}, example {group[0].id!r} has "
                f"{group[0].text_a[:60]!r}"
            )


def _rows(groups: Sequence[int], group_size: int) -> list[int]:
    return [g * group_size + k for g in sorted(groups) for k in range(group_size)]
