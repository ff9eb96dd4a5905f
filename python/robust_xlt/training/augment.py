"""Text-level methods: synonym substitution (rs-da) and code-switching (codeswitch),
re-sampled for every batch by the Rust core.

One ``perturb`` call per method per batch covers every text of the batch (both
sentences of each pair; QA questions and contexts). Its seed comes from (run seed,
step), so a resumed run draws the same substitutions. With both methods the synonyms
are drawn first and the code-switching applies to their result.

The task record says which texts of an example are rewritten (QA: the answer spans are
protected, so no answer word changes, and each answer's offset follows the edits).
Every pass also reports word counts, so a run logs the share of words it actually
changed and the share that had no candidate: a method's strength is a number.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

from robust_xlt import Lexicon, Perturbation, load_lexicon, perturb
from robust_xlt.data import Example
from robust_xlt.perturbation import StopWords
from robust_xlt.tasks import Task
from robust_xlt.training import rng
from robust_xlt.training.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

Span = tuple[int, int]


def smoke_lexicon_path() -> Path:
    """The tiny hand-written lexicon that covers the smoke sample's words (en, de, zh, sw)."""
    return Path(str(resources.files("robust_xlt.data") / "sample" / "lexicon.tsv"))


# Word counts a text pass reports, summed over a batch's texts.
COUNTS: tuple[str, ...] = ("words", "stopwords", "protected", "no_candidate", "eligible", "changed")


@dataclass
class EditStats:
    """What the text methods did: per pass (mode), word counts over the rewritten
    texts and the changed words by the language of their replacement. Shares of
    ``words`` are what a method's strength is: a rate applies to eligible words only."""

    passes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, mode: str, outs: Sequence[Perturbation]) -> None:
        entry = self.passes.setdefault(mode, {**dict.fromkeys(COUNTS, 0), "changed_into": {}})
        for p in outs:
            entry["words"] += p.word_count
            entry["stopwords"] += p.stopword_count
            entry["protected"] += p.protected_count
            entry["no_candidate"] += p.no_candidate_count
            entry["eligible"] += p.eligible_count
            entry["changed"] += len(p.edits)
            for edit in p.edits:
                entry["changed_into"][edit.lang] = entry["changed_into"].get(edit.lang, 0) + 1

    def merge(self, other: EditStats) -> None:
        for mode, counts in other.passes.items():
            entry = self.passes.setdefault(mode, {**dict.fromkeys(COUNTS, 0), "changed_into": {}})
            for key in COUNTS:
                entry[key] += counts[key]
            for lang, n in counts["changed_into"].items():
                entry["changed_into"][lang] = entry["changed_into"].get(lang, 0) + n

    def summary(self) -> dict[str, Any]:
        """Counts and shares per pass: changed / words (the effective edit rate),
        no_candidate / words, eligible / words, changed / eligible, and the changed
        share of words per replacement language."""
        out = {}
        for mode, c in self.passes.items():
            words = max(c["words"], 1)
            out[mode] = {
                **{k: c[k] for k in COUNTS},
                "changed_share": round(c["changed"] / words, 5),
                "no_candidate_share": round(c["no_candidate"] / words, 5),
                "eligible_share": round(c["eligible"] / words, 5),
                "changed_of_eligible": round(c["changed"] / max(c["eligible"], 1), 5),
                "changed_share_by_lang": {lang: round(n / words, 5) for lang, n in sorted(c["changed_into"].items())},
            }
        return out

    def to_state(self) -> dict[str, Any]:
        return {"passes": self.passes}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EditStats:
        return cls({mode: {**c, "changed_into": dict(c["changed_into"])} for mode, c in state["passes"].items()})


@dataclass(frozen=True)
class Augmenter:
    """Rewrites a batch's examples; ``passes`` are (mode, rate, seed stream) in order."""

    task: Task
    lexicon: Lexicon
    lang: str
    passes: tuple[tuple[str, float, int], ...]
    target_langs: tuple[str, ...]
    max_edits: int | None
    stopwords: StopWords
    seed: int

    def __call__(
        self,
        examples: Sequence[Example],
        step: int,
        strength: float = 1.0,
        protect: Sequence[Sequence[Sequence[Span]]] | None = None,
    ) -> tuple[list[Example], EditStats]:
        """The rewritten examples of step ``step`` and what the passes changed.

        ``strength`` (a curriculum's difficulty, 1: full) scales every rate and keeps
        only the first ceil(strength x n) of the n code-switching languages;
        ``protect``: per example and text (the task's slots), spans left alone besides
        the task's own (a relevance curriculum's most relevant words)."""
        stats = EditStats()
        if not examples:
            return [], stats
        n_targets = len(self.target_langs)
        targets = self.target_langs if strength >= 1.0 else self.target_langs[: max(1, math.ceil(strength * n_targets - 1e-9))]
        n = len(examples)
        extra: list[list[Span]] | None = None
        if protect is not None:
            # rewrite lists texts slot-major: every example's first text, then every second.
            slots = len(protect[0]) if n else 0
            extra = [list(protect[i][s]) for s in range(slots) for i in range(n)]

        def rewrite_texts(texts: list[str], own: list[list[Span]] | None) -> tuple[list[str], list[list[Span]] | None]:
            added = extra
            if added is not None and len(added) != len(texts):
                raise AssertionError(f"{len(added)} protected-span lists for {len(texts)} texts")
            for mode, rate, stream in self.passes:
                spans = own if added is None else [[*(own[k] if own is not None else ()), *added[k]] for k in range(len(texts))]
                out = perturb(
                    texts,
                    self.lang,
                    self.lexicon,
                    mode=mode,  # type: ignore[arg-type]
                    rate=rate if strength >= 1.0 else rate * strength,
                    seed=rng.derive_seed(self.seed, step, stream),
                    target_langs=targets if mode != "synonym" else None,
                    protect=spans,
                    max_edits=self.max_edits,
                    stopwords=self.stopwords,
                )
                stats.add(mode, out)
                if own is not None:
                    own = [[p.map_span(s, e) for s, e in sp] for p, sp in zip(out, own, strict=True)]
                if added is not None:
                    added = [[p.map_span(s, e) for s, e in sp] for p, sp in zip(out, added, strict=True)]
                texts = [p.text for p in out]
            return texts, own

        return self.task.rewrite(self.task.examples(examples), rewrite_texts), stats


def load_run_lexicon(config: TrainConfig) -> tuple[Lexicon, list[str]] | None:
    """The lexicon of the config's text and adversary methods and its paths, or None
    when no method reads one."""
    if not (config.text_methods or config.adversary_method):
        return None
    paths = list(config.lexicon) or [str(smoke_lexicon_path())]
    if not config.lexicon and not config.uses_smoke_sample:
        log.warning("no --lexicon given: using the smoke sample's tiny lexicon, which covers almost no real text")
    for p in paths:
        if not Path(p).expanduser().exists():
            raise FileNotFoundError(f"lexicon file not found: {p}")
    return load_lexicon([Path(p).expanduser() for p in paths]), paths


def build_augmenter(config: TrainConfig, loaded: tuple[Lexicon, list[str]] | None = None) -> Augmenter | None:
    """The augmenter of the config's text methods, or None when it has none;
    ``loaded``: the run's lexicon when already read (load_run_lexicon)."""
    methods = config.text_methods
    if not methods:
        return None
    lexicon, paths = loaded if loaded is not None else load_run_lexicon(config)  # type: ignore[misc]
    passes: list[tuple[str, float, int]] = []
    if "rs-da" in methods:
        if lexicon.word_count(config.source_lang) == 0:
            raise ConfigError(f"rs-da: the lexicon has no {config.source_lang} words ({', '.join(paths)})")
        passes.append(("synonym", config.synonym_rate, rng.SYNONYMS))
    targets: tuple[str, ...] = ()
    if "codeswitch" in methods:
        targets = codeswitch_targets(config, lexicon)
        passes.append(("codeswitch", config.codeswitch_rate, rng.CODESWITCH))
    log.info(
        "augmentation: %s with lexicon %s (%d entries)%s",
        ", ".join(f"{mode} rate {rate:g}" for mode, rate, _ in passes),
        ", ".join(paths),
        len(lexicon),
        f"; code-switching into {', '.join(targets)}" if targets else "",
    )
    return Augmenter(
        config.task_record,
        lexicon,
        config.source_lang,
        tuple(passes),
        targets,
        config.max_edits,
        cast(StopWords, config.stopwords),  # one of STOPWORD_KINDS: the config checks it
        config.seed,
    )


def codeswitch_targets(config: TrainConfig, lexicon: Lexicon) -> tuple[str, ...]:
    """``codeswitch_langs``, or the evaluation languages the lexicon covers, or failing
    that every lexicon language: never the source language."""
    known = set(lexicon.languages())
    if config.codeswitch_langs is not None:
        absent = [lang for lang in config.codeswitch_langs if lang not in known]
        if absent:
            raise ConfigError(
                f"codeswitch_langs {', '.join(absent)} not in the lexicon, which has {', '.join(sorted(known))}"
            )
        targets = tuple(lang for lang in config.codeswitch_langs if lang != config.source_lang)
    else:
        targets = tuple(lang for lang in config.eval_langs or () if lang in known and lang != config.source_lang)
        if not targets:
            targets = tuple(sorted(lang for lang in known if lang != config.source_lang))
    if not targets:
        raise ConfigError(
            f"codeswitch needs a lexicon with translations out of {config.source_lang}; "
            f"the lexicon has only {', '.join(sorted(known)) or 'no languages'}"
        )
    return targets
