"""Where a run's examples come from: files, hub splits or the smoke sample, and the
held-out split that keeps evaluation free of training rows.

A data source is a path in the task's format or ``hub:DATASET[:CONFIG]:SPLIT``;
``{lang}`` in it is replaced by the language being loaded. With no data flags at all a
run uses the hand-written smoke sample shipped with the package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from robust_xlt.data import (
    SAMPLE_LANGS,
    Example,
    PairExample,
    QAExample,
    load_hub,
    load_task_file,
    sample_path,
    select_rows,
    zero_shot_split,
)
from robust_xlt.data.splits import XNLI_GROUP_SIZE
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
    """Examples of a run: English (source) training and dev sets, and one evaluation set
    per language. ``describe`` says where each came from, for the log and results."""

    train: list[Example]
    dev: list[Example]
    eval: dict[str, list[Example]]
    describe: dict[str, str]


def substitute(spec: str, lang: str) -> str:
    return spec.replace("{lang}", lang)


def load_source(task: str, spec: str, lang: str) -> list[Example]:
    """Examples of ``lang`` from a path or hub spec (``{lang}`` already substituted or not)."""
    spec = substitute(spec, lang)
    if spec.startswith(HUB_PREFIX):
        dataset, config, split = parse_hub(spec)
        return list(load_hub(dataset, config, split, task, lang))
    path = Path(spec).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file for language {lang!r} not found: {path}")
    return list(load_task_file(task, path, lang))


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
    if with_train and config.train_data is None and not config.uses_smoke_sample and config.train_fraction == 1.0:
        raise ConfigError(
            "train_data is missing: with --eval-data or --dev-data, give --train-data too "
            "(or --train-fraction below 1 to train on held-in rows of the source language's --eval-data)"
        )
    if config.uses_smoke_sample:
        missing = [lang for lang in config.eval_langs or () if lang not in SAMPLE_LANGS]
        if missing:
            raise ConfigError(
                f"the smoke sample has no language {', '.join(missing)}; it has {', '.join(SAMPLE_LANGS)}"
            )
        if config.source_lang != "en":
            raise ConfigError(f"the smoke sample's training data is English; source_lang is {config.source_lang!r}")
        return
    specs: list[tuple[str, str, str]] = []  # (flag, spec, lang)
    if config.train_data is not None and (with_train or config.train_fraction < 1.0):
        specs.append(("--train-data", config.train_data, config.source_lang))
    if config.dev_data is not None and with_train:
        specs.append(("--dev-data", config.dev_data, config.source_lang))
    for lang in config.eval_langs or ():
        specs.append(("--eval-data", config.eval_data or "", lang))
    for flag, spec, lang in specs:
        if not spec or spec.startswith(HUB_PREFIX):
            if spec:
                parse_hub(substitute(spec, lang))
            continue
        path = Path(substitute(spec, lang)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{flag}: data file for language {lang!r} not found: {path}")


def load_task_data(config: TrainConfig, *, with_train: bool = True) -> TaskData:
    """Training, dev and per-language evaluation examples for a resolved config.

    ``with_train=False`` (``robust-xlt eval``) still reads the training source when the
    held-out part of it is what the source language is evaluated on.
    """
    c = config
    langs = list(c.eval_langs or ())
    describe: dict[str, str] = {}
    if c.uses_smoke_sample:
        train = _load(c, str(sample_path(c.task, "train", "en")), "en") if with_train else []
        evals = {lang: _load(c, str(sample_path(c.task, "dev", lang)), lang) for lang in langs}
        describe = {"train": "smoke sample", "eval": "smoke sample"}
        dev = evals[c.source_lang]
        describe["dev"] = f"smoke sample ({c.source_lang} evaluation set)"
        return TaskData(_cap(train, c.max_train_examples), _cap(dev, c.max_eval_examples), _cap_all(evals, c), describe)

    train_spec = c.train_data or c.eval_data
    assert train_spec is not None and c.eval_data is not None  # enforced by TrainConfig
    describe["train"] = substitute(train_spec, c.source_lang)
    describe["eval"] = c.eval_data
    need_train = with_train or c.train_fraction < 1.0
    train = _load(c, train_spec, c.source_lang) if need_train else []
    evals = {}
    for lang in langs:
        same_as_train = substitute(c.eval_data, lang) == substitute(train_spec, c.source_lang) and lang == c.source_lang
        evals[lang] = train if same_as_train and need_train else _load(c, c.eval_data, lang)

    if c.train_fraction < 1.0:
        train, evals = _hold_out(c, train, evals, train_spec)
        describe["split"] = f"train on the first {c.train_fraction:g} of the training source, in file order"
    elif need_train and evals.get(c.source_lang) is train:
        raise ConfigError(
            f"the {c.source_lang} evaluation data is the training data ({describe['train']}); "
            "pass --train-fraction below 1 to hold part of it out, or other --eval-data"
        )

    if c.dev_data is not None:
        dev = _load(c, c.dev_data, c.source_lang)
        describe["dev"] = substitute(c.dev_data, c.source_lang)
    else:
        dev = evals[c.source_lang]
        describe["dev"] = f"the {c.source_lang} evaluation set"
    return TaskData(_cap(train, c.max_train_examples), _cap(dev, c.max_eval_examples), _cap_all(evals, c), describe)


def _hold_out(
    c: TrainConfig, train: list[Example], evals: dict[str, list[Example]], train_spec: str
) -> tuple[list[Example], dict[str, list[Example]]]:
    if c.task == "qa":
        return _hold_out_questions(c, train, evals)
    return _hold_out_rows(c, train, evals, train_spec)


def _hold_out_questions(
    c: TrainConfig, train: list[Example], evals: dict[str, list[Example]]
) -> tuple[list[Example], dict[str, list[Example]]]:
    """Questions are not row-aligned across languages: only source questions are held out."""
    train_idx, held_idx = zero_shot_split(len(train), c.train_fraction)
    out = dict(evals)
    if out.get(c.source_lang) is train:
        out[c.source_lang] = [train[i] for i in held_idx]
    elif c.source_lang in out:
        log.info("qa: the %s evaluation set is read from --eval-data, not the held-out questions", c.source_lang)
    return [train[i] for i in train_idx], out


def _hold_out_rows(
    c: TrainConfig, train: list[Example], evals: dict[str, list[Example]], train_spec: str
) -> tuple[list[Example], dict[str, list[Example]]]:
    """One row split for every language of row-aligned files."""
    group = XNLI_GROUP_SIZE if c.task == "xnli" else 1
    pairs = [ex for ex in train if isinstance(ex, PairExample)]
    try:
        n_rows = max(int(ex.id) for ex in pairs) + 1 if pairs else 0
    except ValueError:
        raise ConfigError(
            f"--train-fraction splits row-aligned files by row index, but {substitute(train_spec, c.source_lang)} "
            f"has ids that are not row indices (e.g. {pairs[0].id!r}); use XTREME-layout files"
        ) from None
    n_rows += (-n_rows) % group
    train_rows, held_rows = zero_shot_split(n_rows, c.train_fraction, group_size=group)
    kept: list[Example] = list(select_rows(pairs, train_rows))
    out: dict[str, list[Example]] = {
        lang: list(select_rows([ex for ex in exs if isinstance(ex, PairExample)], held_rows)) for lang, exs in evals.items()
    }
    log.info(
        "row split: train on %d %s rows of %d, evaluate every language on the other %d rows",
        len(kept),
        c.source_lang,
        n_rows,
        len(held_rows),
    )
    return kept, out


def _load(c: TrainConfig, spec: str, lang: str) -> list[Example]:
    examples = load_source(c.task, spec, lang)
    if not examples:
        raise ConfigError(f"no {lang} examples in {substitute(spec, lang)}")
    if c.task == "qa" and not isinstance(examples[0], QAExample):
        raise ConfigError(f"{substitute(spec, lang)} did not load as QA examples")
    return examples


def _cap(examples: list[Example], n: int | None) -> list[Example]:
    return examples if n is None else examples[:n]


def _cap_all(evals: dict[str, list[Example]], c: TrainConfig) -> dict[str, list[Example]]:
    return {lang: _cap(exs, c.max_eval_examples) for lang, exs in evals.items()}
