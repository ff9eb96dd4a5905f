"""Leak-free train / dev / evaluation splits of multilingual task data.

Row-aligned benchmark files (PAWS-X and XNLI dev and test) hold translations of one
set of examples: German example ``i`` is a translation of English example ``i``, and
translations share an example id (the row index in the XTREME layout, the release's
id in the official layouts). Scoring a translation of a training example measures
memory, not transfer, so the split is made once, on ids, for every language.

Splitting ids alone is not enough. PAWS-X pairs reuse source sentences (in the
shared English dev file, 411 of the last 1,000 rows share a sentence with the first
1,000), and XNLI's three hypotheses of a premise are three rows. So ids are first
joined into *groups*: two ids are one group when their examples share a sentence,
after :func:`normalise`, in any language of the files (:func:`sentence_groups`;
an XNLI premise's rows then form one group by themselves). QA examples are grouped
by passage (:func:`passage_groups`). Whole groups go to train, dev or evaluation
(:func:`split_groups`, shuffled with the fixed ``SPLIT_SEED``), so no evaluation
sentence or passage is ever trained on or used for model selection.

:func:`align_ids` checks that the languages hold the same ids and gives the ids all
of them hold, so every language is scored on the same examples even where a
language skipped rows at load time (PAWS-X ``NS`` placeholders).
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from robust_xlt.data import _tsv
from robust_xlt.data.errors import DataError
from robust_xlt.data.examples import PairExample, QAExample

XNLI_GROUP_SIZE = 3  # hypotheses per premise in XNLI dev and test
# The split's own seed, fixed: every run, seed and method of a task is evaluated on the
# same ids, so their scores compare. Not file order: groups in order of first appearance
# put the large groups first (a group of 7 rows appears early), so on PAWS-X the last
# groups are 67% singleton rows against 34% overall, and half the groups were 63% of rows.
SPLIT_SEED = 0
# A language lacking more than this share of the ids the languages hold together is
# not a translation of the same set: typically an official-layout file (the release's
# ids) beside XTREME-layout ones (row numbers), whose ids overlap by accident. The
# real PAWS-X files lack at most 3.4% (German, 68 of 2000 rows are `NS`).
MAX_MISSING_SHARE = 0.2


def normalise(text: str) -> str:
    """The key under which two sentences count as the same: stripped, NFC.

    The files spell a sentence the same way wherever it recurs; NFC only guards
    against a composed and a decomposed accent hiding a repeat.
    """
    return unicodedata.normalize("NFC", text.strip())


def group_ids(keyed: Iterable[tuple[str, Iterable[str]]]) -> list[list[str]]:
    """Ids joined when they share a key: the connected components of (id, keys) pairs.

    An id may come several times (once per language) with different keys; all its keys
    count. Keys are compared after :func:`normalise`, across all ids, so a sentence
    left untranslated in one language joins the rows it equals in another. Groups are
    in order of their first id's first appearance, ids within a group likewise, so the
    result depends on the input order only, never on hashing.
    """
    parent: dict[str, str] = {}
    owner: dict[str, str] = {}  # normalised key -> the first id that had it

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]  # path halving keeps the trees flat
            x = parent[x]
        return x

    for ident, keys in keyed:
        parent.setdefault(ident, ident)
        for key in keys:
            other = owner.setdefault(normalise(key), ident)
            a, b = find(ident), find(other)
            if a != b:
                parent[b] = a
    groups: dict[str, list[str]] = {}
    for ident in parent:  # insertion order: first appearance
        groups.setdefault(find(ident), []).append(ident)
    return list(groups.values())


def sentence_groups(*example_sets: Iterable[PairExample]) -> list[list[str]]:
    """Ids of sentence-pair examples grouped by shared sentences, over every set given
    (pass one set per language of row-aligned files: translations share ids)."""
    return group_ids((ex.id, (ex.text_a, ex.text_b)) for examples in example_sets for ex in examples)


def passage_groups(examples: Iterable[QAExample]) -> list[list[str]]:
    """Ids of QA examples grouped by passage: the questions of one context are one group,
    since a model trained on a passage's questions has read the passage."""
    return group_ids((ex.id, (ex.context,)) for ex in examples)


@dataclass(frozen=True)
class GroupSplit:
    """Ids of the three disjoint parts, each in group order, and groups per part."""

    train: list[str]
    dev: list[str]
    eval: list[str]
    groups: dict[str, int]


def split_groups(
    groups: Sequence[Sequence[str]],
    train_fraction: float,
    dev_fraction: float = 0.0,
    seed: int | None = None,
) -> GroupSplit:
    """Whole groups to train, dev and evaluation, in those proportions of the group count.

    The nearest whole number of groups is taken for each fraction, at least one when the
    fraction is above 0; evaluation keeps the rest and must keep at least one. A
    fraction of 0 leaves that part empty (``train_fraction=0`` splits evaluation files
    into dev and evaluation when training data is a separate file). An int seed
    shuffles the groups first, the same way on every platform (``random.Random``), so
    each part draws groups of every size (see ``SPLIT_SEED``); ``seed=None`` takes them
    in the order given. Each part lists its groups in the order given.
    """
    for name, value in (("train_fraction", train_fraction), ("dev_fraction", dev_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    n = len(groups)
    n_train, n_dev = (max(round(f * n), 1) if f > 0 else 0 for f in (train_fraction, dev_fraction))
    if n - n_train - n_dev < 1:
        raise ValueError(
            f"{n} group(s) cannot be split into {n_train} train and {n_dev} dev group(s) "
            "with at least one left to evaluate"
        )
    order = list(range(n))
    if seed is not None:
        random.Random(seed).shuffle(order)
    parts = order[:n_train], order[n_train : n_train + n_dev], order[n_train + n_dev :]
    train, dev, evaluate = ([ident for g in sorted(part) for ident in groups[g]] for part in parts)
    return GroupSplit(train, dev, evaluate, {"train": n_train, "dev": n_dev, "eval": n - n_train - n_dev})


@dataclass(frozen=True)
class Alignment:
    """``common``: the ids every language holds, in the first language's order;
    ``missing``: per language that lacks some, the ids others hold and it does not."""

    common: list[str]
    missing: dict[str, list[str]]


def align_ids(
    ids_by_lang: Mapping[str, Sequence[str]], *, max_missing: float = MAX_MISSING_SHARE
) -> Alignment:
    """Check that row-aligned languages hold one set of ids, and intersect them.

    Raises DataError for an id repeated within a language (it could not say which row a
    translation belongs to) and for a language lacking more than ``max_missing`` of all
    the ids (it is not the same set: see ``MAX_MISSING_SHARE``). A few missing ids
    (rows a loader skipped) are returned, not raised, for the caller to report.
    """
    if not ids_by_lang:
        raise ValueError("align_ids needs at least one language")
    union: dict[str, None] = {}
    for lang, ids in ids_by_lang.items():
        repeated = [i for i, n in Counter(ids).items() if n > 1]
        if repeated:
            raise DataError(f"{lang}: {len(repeated)} example id(s) repeat, e.g. {repeated[:3]}")
        union.update(dict.fromkeys(ids))
    missing: dict[str, list[str]] = {}
    for lang, ids in ids_by_lang.items():
        own = set(ids)
        lacks = [i for i in union if i not in own]
        if len(lacks) > max_missing * len(union):
            raise DataError(
                f"{lang} lacks {len(lacks)} of the {len(union)} example ids the languages hold "
                f"together (e.g. {lacks[:3]}), more than {max_missing:.0%}: the files are not "
                "translations of one set sharing ids (an official-layout file, whose ids are the "
                "release's, beside XTREME-layout files, whose ids are row numbers?)"
            )
        if lacks:
            missing[lang] = lacks
    shared = set(union).difference(*missing.values())
    first = next(iter(ids_by_lang.values()))
    return Alignment([i for i in first if i in shared], missing)


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
    """Check that each run of ``group_size`` consecutive examples shares one premise.

    XNLI dev and test files have this shape (830 premises x 3 in every shared dev
    file); a file that lacks it was cut or reordered, and its row ids would no longer
    align with the other languages'.
    """
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
