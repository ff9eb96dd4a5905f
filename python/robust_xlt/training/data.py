"""Where a run's examples come from: files, hub splits or the smoke sample, and the
split that keeps every evaluated example out of training and model selection.

A data source is a path in the task's format or ``hub:DATASET[:CONFIG]:SPLIT``;
``{lang}`` in it is replaced by the language being loaded. With no data flags at all a
run uses the hand-written smoke sample shipped with the package.

The split (``robust_xlt.data.splits`` says why it is made on groups of ids):

- pawsx, xnli: the evaluation files are row-aligned, languages share example ids.
  Ids are grouped by sentences shared in any language; whole groups, shuffled with a
  fixed split seed (the same for every run), go to one part.
  When the training source is the source language's evaluation file
  (``train_fraction < 1``), ``train_fraction`` of the groups train and
  ``dev_fraction`` of them are the dev set, both on the source language's rows; the
  rest is evaluated in every language. A separate training file with
  ``train_fraction < 1`` is split the same way within itself (the evaluation files
  are untouched); with ``train_fraction == 1``, ``dev_fraction`` of the evaluation
  files' groups are the dev set and leave every language's evaluation set, so no
  evaluated example's source-language original selects the model.
- qa: the same with the source language's questions grouped by passage; the other
  languages' files are not translations of it and are left untouched.
- ``--dev-data`` is the dev set (language ``--dev-lang``); no dev rows are split off.
- pawsx, xnli: every language is evaluated on the ids all the evaluated languages
  hold (PAWS-X ``NS`` rows are skipped at load), and ``max_eval_examples`` keeps the
  first N of those, the same N ids everywhere.

``TaskData.splits`` records which ids went where, how, and what was dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_xlt.data import (
    SAMPLE_LANGS,
    DataError,
    Example,
    LoadReport,
    PairExample,
    QAExample,
    align_ids,
    check_premise_groups,
    load_hub,
    load_task_file,
    passage_groups,
    sample_path,
    sentence_groups,
    split_groups,
)
from robust_xlt.data.report import ISSUE_KINDS
from robust_xlt.data.splits import SPLIT_SEED, normalise
from robust_xlt.data.xnli import file_layout
from robust_xlt.training.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

HUB_PREFIX = "hub:"

SMOKE_NOTICE = (
    "SMOKE RUN: training and evaluating on the tiny hand-written sample shipped with robust-xlt; "
    "its scores mean nothing beyond 'the pipeline runs'. For real data give --train-data and "
    "--eval-data: files in the task's format with '{lang}' for the language (e.g. --task xnli "
    "--train-fraction 0.5 --eval-data data/xnli/dev-{lang}.tsv), or hub splits "
    "(e.g. --task pawsx --train-data hub:google/xtreme:PAWS-X.en:train "
    "--eval-data hub:google/xtreme:PAWS-X.{lang}:validation); see robust-xlt train --help."
)


@dataclass(frozen=True)
class TaskData:
    """Examples of a run: source-language training examples, the dev set for model
    selection, and one evaluation set per language. ``describe`` says where each came
    from, for the log and results; ``splits`` records the split (JSON-ready, see
    :func:`load_task_data`) for ``splits.json``."""

    train: list[Example]
    dev: list[Example]
    eval: dict[str, list[Example]]
    describe: dict[str, str]
    splits: dict[str, Any]
    # Target-language dev sets for oracle selection (oracle_dev_examples); empty when off.
    oracle_dev: dict[str, list[Example]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Sources:
    """Every spec a run reads, ``{lang}`` substituted."""

    train: str
    dev: str | None
    eval: dict[str, str]


def substitute(spec: str, lang: str) -> str:
    return spec.replace("{lang}", lang)


def load_source(task: str, spec: str, lang: str, *, report: LoadReport | None = None) -> list[Example]:
    """Examples of ``lang`` from a path or hub spec (``{lang}`` already substituted or not)."""
    spec = substitute(spec, lang)
    options: dict[str, Any] = {} if report is None else {"report": report}
    if spec.startswith(HUB_PREFIX):
        dataset, config, split = parse_hub(spec)
        return list(load_hub(dataset, config, split, task, lang, **options))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file for language {lang!r} not found: {path}")
    return list(load_task_file(task, path, lang, **options))


def parse_hub(spec: str) -> tuple[str, str | None, str]:
    """``hub:DATASET[:CONFIG]:SPLIT`` as (dataset, config or None, split)."""
    parts = spec[len(HUB_PREFIX) :].split(":")
    if len(parts) == 2 and all(parts):
        return parts[0], None, parts[1]
    if len(parts) == 3 and parts[0] and parts[2]:
        return parts[0], parts[1] or None, parts[2]
    raise ConfigError(
        f"bad hub spec {spec!r}: expected hub:DATASET:SPLIT or hub:DATASET:CONFIG:SPLIT, "
        "e.g. hub:google/xtreme:PAWS-X.{lang}:validation"
    )


def check_sources(config: TrainConfig, *, with_train: bool = True) -> None:
    """Fail before any model loads when the data settings cannot work or a data file is
    missing: every path the run will read, per language, must exist (hub specs are
    checked when downloaded). ``with_train=False`` checks what evaluation reads."""
    c = config
    dev_lang = c.dev_lang or c.source_lang
    if with_train and c.train_data is None and not c.uses_smoke_sample and c.train_fraction == 1.0:
        raise ConfigError(
            "train_data is missing: with --eval-data or --dev-data, give --train-data too "
            "(or --train-fraction below 1 to train on held-in rows of the source language's --eval-data)"
        )
    _check_dev(c, with_train)
    if c.uses_smoke_sample:
        missing = [lang for lang in c.eval_langs or () if lang not in SAMPLE_LANGS]
        if missing:
            raise ConfigError(
                f"the smoke sample has no language {', '.join(missing)}; it has {', '.join(SAMPLE_LANGS)}"
            )
        if c.source_lang != "en":
            raise ConfigError(f"the smoke sample's training data is English; source_lang is {c.source_lang!r}")
        return
    specs: list[tuple[str, str, str]] = []  # (flag, spec, lang)
    if c.train_data is not None and (with_train or c.train_fraction < 1.0):
        specs.append(("--train-data", c.train_data, c.source_lang))
    if c.dev_data is not None and with_train:
        specs.append(("--dev-data", c.dev_data, dev_lang))
    for lang in c.eval_langs or ():
        specs.append(("--eval-data", c.eval_data or "", lang))
    for flag, spec, lang in specs:
        if not spec or spec.startswith(HUB_PREFIX):
            if spec:
                parse_hub(substitute(spec, lang))
            continue
        path = Path(substitute(spec, lang)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{flag}: data file for language {lang!r} not found: {path}")


def load_task_data(config: TrainConfig, *, with_train: bool = True) -> TaskData:
    """Training, dev and per-language evaluation examples for a resolved config, split
    as the module docstring says.

    ``with_train=False`` (``robust-xlt eval``) reads no dev set and no separate
    training file, but still reads the training source when it is the source
    language's evaluation file, so the evaluation set is the training run's.
    ``splits`` holds ``method``, ``pool`` (what was split: ``held-in`` rows, the
    separate ``train`` file, the ``eval`` files, or nothing), ``fractions``, ``seed``,
    ``groups`` (counts per part), ``ids`` (train and dev lists, eval per language, after
    the caps), ``counts``, ``dropped`` (load-time skips, ids missing or not common,
    caps), ``overlap`` (evaluation rows sharing text with train or dev: 0 whenever the
    split made them) and ``sources``.
    """
    c = config
    source, dev_lang = c.source_lang, c.dev_lang or c.source_lang
    aligned = c.task_record.row_aligned  # languages share example ids (PAWS-X, XNLI)
    src = _sources(c, dev_lang)
    reports: dict[str, dict[str, dict[str, int]]] = {}

    held_in = source in src.eval and _same_source(src.train, src.eval[source])
    if held_in and c.train_fraction == 1.0 and with_train:
        raise ConfigError(
            f"the {source} evaluation data is the training data ({src.train}); "
            "pass --train-fraction below 1 to hold part of it out, or other --eval-data"
        )
    _check_dev(c, with_train)
    need_train = with_train or (held_in and c.train_fraction < 1.0)
    train = _load(c, src.train, source, reports, "train") if need_train else []
    evals: dict[str, list[Example]] = {}
    for lang, spec in src.eval.items():
        evals[lang] = train if held_in and need_train and lang == source else _load(c, spec, lang, reports, "eval")

    # What is split: the held-in rows, the separate training file, or the evaluation
    # files (which lose the dev groups in every language).
    dev_share = 0.0 if c.dev_data is not None else c.dev_fraction
    pool: str | None = None
    if c.train_fraction < 1.0 and (held_in or need_train):
        pool = "held-in" if held_in else "train"
    elif c.train_fraction == 1.0 and dev_share > 0:
        pool = "eval"
    fractions = (c.train_fraction if pool in ("held-in", "train") else 0.0, dev_share)
    dev: list[Example] = []
    groups: dict[str, int] | None = None
    dropped: dict[str, Any] = {"load": reports}
    if aligned:  # before any split: a file that is not a translation of the others fails here
        align_ids({lang: [ex.id for ex in exs] for lang, exs in evals.items()})
    if pool is not None:
        sets = {source: train} if pool == "train" else (evals if aligned else {source: evals[source]})
        group = c.task_record.premise_group
        if aligned and pool != "train" and group is not None:
            _check_premise_rows(src, sets, group)
        (train_ids, dev_ids, eval_ids), groups = _split(c, pool, sets, aligned, fractions, src)
        rows = sets[source]
        if pool != "eval":
            train = [ex for ex in rows if ex.id in train_ids]
        dev = [ex for ex in rows if ex.id in dev_ids]
        if pool != "train":
            evals.update({lang: [ex for ex in evals[lang] if ex.id in eval_ids] for lang in sets})
        else:  # rows of a separate training file in neither part: held out, evaluated nowhere
            dropped["held_out_unused"] = len(rows) - len(train) - len(dev)
    if c.dev_data is not None and with_train:
        dev = _load(c, c.dev_data, dev_lang, reports, "dev")
    if not with_train:
        dev = []

    cap = c.max_eval_examples
    if aligned:
        evals, dropped["missing"], dropped["not_common"] = _on_common_ids(evals)
    dropped["max_eval_examples"] = {"dev": _over(len(dev), cap), **{lang: _over(len(exs), cap) for lang, exs in evals.items()}}
    dropped["max_train_examples"] = _over(len(train), c.max_train_examples)
    train, dev = _cap(train, c.max_train_examples), _cap(dev, cap)
    uncapped, evals = evals, _cap_evals(evals, cap, aligned)
    oracle = _oracle_dev(c, uncapped, evals, aligned) if with_train and c.oracle_dev_examples else {}

    overlap = _overlap(train, dev, evals)
    if oracle:
        # The oracle rows were chosen to share nothing with the evaluated ones; training
        # and dev text are separate sources, checked here as for the evaluated rows.
        overlap["oracle_dev"] = _overlap(train, dev, oracle)
    if any(overlap["train"].values()) or any(overlap["dev"].values()) or overlap["dev_in_train"]:
        log.warning("evaluation or dev rows share text with training or dev rows: %s", overlap)
    describe = _describe(c, src, pool, fractions, groups, with_train)
    splits = {
        "task": c.task,
        "source_lang": source,
        "dev_lang": dev_lang,
        "method": "none" if pool is None else ("sentence-groups" if aligned else "passage-groups"),
        "pool": pool,
        "fractions": {"train": fractions[0], "dev": fractions[1]},
        "seed": None if pool is None else SPLIT_SEED,
        "groups": groups,
        "ids": {
            "train": [ex.id for ex in train],
            "dev": [ex.id for ex in dev],
            "eval": {lang: [ex.id for ex in exs] for lang, exs in evals.items()},
            **({"oracle_dev": {lang: [ex.id for ex in exs] for lang, exs in oracle.items()}} if oracle else {}),
        },
        "counts": {
            "train": len(train),
            "dev": len(dev),
            "eval": {lang: len(exs) for lang, exs in evals.items()},
            **({"oracle_dev": {lang: len(exs) for lang, exs in oracle.items()}} if oracle else {}),
        },
        "dropped": dropped,
        "overlap": overlap,
        "sources": {"train": src.train if need_train else None, "dev": describe["dev"], "eval": src.eval},
    }
    log.info(
        "data split: %s; train %d %s, dev %d %s, evaluate %s",
        describe.get("split", "none"),
        len(train),
        source,
        len(dev),
        dev_lang,
        ", ".join(f"{lang} {len(exs)}" for lang, exs in evals.items()),
    )
    return TaskData(train, dev, evals, describe, splits, oracle)


def _oracle_dev(
    c: TrainConfig, uncapped: dict[str, list[Example]], evals: dict[str, list[Example]], aligned: bool
) -> dict[str, list[Example]]:
    """Each target language's oracle dev set: the first ``oracle_dev_examples`` of the
    rows after the evaluated ones (row-aligned tasks: the same ids in every language)
    that share no sentence (qa: passage) with any evaluated row. The source language
    has none: its selection is the English dev set's."""
    n = c.oracle_dev_examples
    targets = [lang for lang in evals if lang != c.source_lang]
    if not targets:
        raise ConfigError(f"oracle_dev_examples {n}: no target language is evaluated (eval_langs)")
    evaluated = {lang: {ex.id for ex in exs} for lang, exs in evals.items()}
    keys = {lang: {normalise(t) for ex in exs for t in _texts(ex)} for lang, exs in evals.items()}

    def free(lang: str, ex: Example) -> bool:
        return ex.id not in evaluated[lang] and not any(normalise(t) in keys[lang] for t in _texts(ex))

    out: dict[str, list[Example]] = {}
    if aligned:
        # Ids free in every language (a translation of an evaluated row is no dev row).
        rows = {lang: {ex.id: ex for ex in uncapped[lang]} for lang in evals}
        order = [ex.id for ex in next(iter(uncapped.values()))]
        ids = [i for i in order if all(i in rows[lang] and free(lang, rows[lang][i]) for lang in evals)][:n]
        out = {lang: [rows[lang][i] for i in ids] for lang in targets}
    else:
        out = {lang: [ex for ex in uncapped[lang] if free(lang, ex)][:n] for lang in targets}
    for lang, exs in out.items():
        if not exs:
            raise ConfigError(
                f"oracle_dev_examples {n}: the {lang} evaluation data holds no rows beyond the "
                f"{len(evals[lang])} evaluated ones that share no text with them; lower max_eval_examples"
            )
        if len(exs) < n:
            log.warning("oracle dev %s: only %d of the %d rows asked for are left after the evaluated ones", lang, len(exs), n)
    return out


def _split(
    c: TrainConfig,
    pool: str,
    sets: dict[str, list[Example]],
    aligned: bool,
    fractions: tuple[float, float],
    src: _Sources,
) -> tuple[tuple[set[str], set[str], set[str]], dict[str, int]]:
    """The pool's ids in whole groups (sentence groups over every language given, or the
    source questions' passages) per part (train, dev, eval), and the group counts."""
    if aligned:
        id_groups = sentence_groups(*map(_pairs, sets.values()))
    else:
        id_groups = passage_groups(_questions(sets[c.source_lang]))
    try:
        split = split_groups(id_groups, *fractions, seed=SPLIT_SEED)
    except ValueError as exc:
        raise ConfigError(f"cannot split {_describe_pool(pool, src, c.source_lang)}: {exc}") from None
    return (set(split.train), set(split.dev), set(split.eval)), {"total": len(id_groups), **split.groups}


def _check_dev(c: TrainConfig, with_train: bool) -> None:
    if c.dev_data is not None:
        return
    if (c.dev_lang or c.source_lang) != c.source_lang:
        raise ConfigError(
            f"dev_lang {c.dev_lang!r} needs --dev-data: a dev set split off the data is in the "
            f"source language ({c.source_lang!r})"
        )
    if with_train and c.dev_fraction == 0.0:
        raise ConfigError("dev_fraction 0 leaves no dev set for model selection; give --dev-data or a dev_fraction above 0")


def _sources(c: TrainConfig, dev_lang: str) -> _Sources:
    langs = list(c.eval_langs or ())
    if c.uses_smoke_sample:
        return _Sources(
            train=str(sample_path(c.task, "train", "en")),
            dev=None,
            eval={lang: str(sample_path(c.task, "dev", lang)) for lang in langs},
        )
    train_spec = c.train_data or c.eval_data
    assert train_spec is not None and c.eval_data is not None  # enforced by TrainConfig
    return _Sources(
        train=substitute(train_spec, c.source_lang),
        dev=None if c.dev_data is None else substitute(c.dev_data, dev_lang),
        eval={lang: substitute(c.eval_data, lang) for lang in langs},
    )


def _same_source(a: str, b: str) -> bool:
    """Whether two substituted specs read the same data (paths compared resolved)."""
    if a.startswith(HUB_PREFIX) or b.startswith(HUB_PREFIX):
        return a == b
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _check_premise_rows(src: _Sources, sets: dict[str, list[Example]], group: int) -> None:
    """XTREME-layout XNLI files align by row number; a cut or reordered one would
    pair ids with the wrong translations, which its premise triples reveal."""
    for lang, exs in sets.items():
        spec = src.eval.get(lang, src.train)
        if spec.startswith(HUB_PREFIX) or file_layout(Path(spec).expanduser()) != "xtreme":
            continue
        try:
            check_premise_groups(_pairs(exs), group)
        except DataError as exc:
            raise DataError(
                f"{exc.problem}; XTREME-layout files of this task hold each premise's {group} hypotheses in consecutive rows",
                path=spec,
            ) from None


def _on_common_ids(evals: dict[str, list[Example]]) -> tuple[dict[str, list[Example]], dict[str, int], dict[str, int]]:
    """Every language's evaluation set on the ids all of them hold; also, per language,
    how many ids it lacks that others hold, and how many of its rows were dropped for
    another language's lack."""
    # The whole files were checked to be one set; a small evaluation part may lack a
    # larger share of its ids by chance, which is no error.
    alignment = align_ids({lang: [ex.id for ex in exs] for lang, exs in evals.items()}, max_missing=1.0)
    for lang, ids in alignment.missing.items():
        log.warning("%s lacks %d evaluation id(s) the other languages hold (e.g. %s)", lang, len(ids), ", ".join(ids[:3]))
    common = set(alignment.common)
    not_common = {lang: sum(ex.id not in common for ex in exs) for lang, exs in evals.items()}
    out = {lang: [ex for ex in exs if ex.id in common] for lang, exs in evals.items()}
    return out, {lang: len(ids) for lang, ids in alignment.missing.items()}, not_common


def _cap_evals(evals: dict[str, list[Example]], cap: int | None, aligned: bool) -> dict[str, list[Example]]:
    """The first ``cap`` examples of each language; for row-aligned sets the first ``cap``
    ids of the first language, so every language is scored on the same ones."""
    if cap is None or not evals:
        return evals
    if not aligned:
        return {lang: exs[:cap] for lang, exs in evals.items()}
    keep = {ex.id for ex in next(iter(evals.values()))[:cap]}
    return {lang: [ex for ex in exs if ex.id in keep] for lang, exs in evals.items()}


def _texts(ex: Example) -> tuple[str, ...]:
    return (ex.text_a, ex.text_b) if isinstance(ex, PairExample) else (ex.context,)


def _overlap(train: list[Example], dev: list[Example], evals: dict[str, list[Example]]) -> dict[str, Any]:
    """Rows sharing a sentence (qa: a passage) with the training or dev rows, counted: the
    check that a split leaked nothing, and a warning for separate files that overlap."""
    train_keys = {normalise(t) for ex in train for t in _texts(ex)}
    dev_keys = {normalise(t) for ex in dev for t in _texts(ex)}

    def shared(examples: Iterable[Example], keys: set[str]) -> int:
        return sum(any(normalise(t) in keys for t in _texts(ex)) for ex in examples)

    return {
        "train": {lang: shared(exs, train_keys) for lang, exs in evals.items()},
        "dev": {lang: shared(exs, dev_keys) for lang, exs in evals.items()},
        "dev_in_train": shared(dev, train_keys),
    }


def _describe_pool(pool: str, src: _Sources, source: str) -> str:
    return src.train if pool in ("held-in", "train") else f"the evaluation files ({src.eval.get(source, '')} and the other languages')"


def _describe(
    c: TrainConfig,
    src: _Sources,
    pool: str | None,
    fractions: tuple[float, float],
    groups: dict[str, int] | None,
    with_train: bool,
) -> dict[str, str]:
    smoke = c.uses_smoke_sample
    unit = "sentence groups" if c.task_record.row_aligned else "passages"
    describe = {
        "train": "smoke sample" if smoke else src.train,
        "eval": "smoke sample" if smoke else (c.eval_data or ""),
        "dev": "none",
    }
    if not with_train:
        describe["dev"] = "none (evaluation only)"
    elif src.dev is not None:
        describe["dev"] = src.dev
    elif pool is not None and groups is not None:
        where = "the held-out part of the training source" if pool != "eval" else "the evaluation files"
        describe["dev"] = f"{c.source_lang} rows of {groups['dev']} of the {groups['total']} {unit} of {where}, evaluated in no language"
    if pool is not None and groups is not None:
        train_part = f"train on {groups['train']} of {groups['total']} {unit} ({fractions[0]:g}), " if fractions[0] else ""
        describe["split"] = (
            f"{train_part}dev {groups['dev']} ({fractions[1]:g}), evaluate {groups['eval']}; "
            f"groups shuffled with split seed {SPLIT_SEED}"
            + ("" if pool != "train" else "; the evaluation files are not split")
        )
    return describe


def _pairs(examples: list[Example]) -> list[PairExample]:
    return [ex for ex in examples if isinstance(ex, PairExample)]


def _questions(examples: list[Example]) -> list[QAExample]:
    return [ex for ex in examples if isinstance(ex, QAExample)]


def _load(c: TrainConfig, spec: str, lang: str, reports: dict[str, dict[str, dict[str, int]]], role: str) -> list[Example]:
    report = LoadReport()
    examples = load_source(c.task, spec, lang, report=report)
    if not examples:
        raise ConfigError(f"no {lang} examples in {substitute(spec, lang)}")
    kind = c.task_record.example_type
    if not isinstance(examples[0], kind):
        raise ConfigError(f"{substitute(spec, lang)} did not load as {kind.__name__}s")
    issues = {k: n for k, n in sorted(report.counts.items()) if k in ISSUE_KINDS and n}
    if issues:
        reports.setdefault(role, {})[lang] = issues
    return examples


def _cap(examples: list[Any], n: int | None) -> list[Any]:
    """The first ``n`` items; ``None`` means all."""
    return examples if n is None else examples[:n]


def _over(n_items: int, cap: int | None) -> int:
    """How many of ``n_items`` a cap of ``cap`` drops."""
    return 0 if cap is None else max(n_items - cap, 0)
