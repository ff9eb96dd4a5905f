"""Text-level methods: synonym substitution (rs-da) and code-switching (codeswitch),
re-sampled for every batch by the Rust core.

One ``perturb`` call per method per batch covers every text of the batch (both
sentences of each pair; QA questions and contexts). Its seed comes from (run seed,
step), so a resumed run draws the same substitutions. With both methods the synonyms
are drawn first and the code-switching applies to their result.

QA: the answer spans are protected, so no answer word changes, and each answer's
offset is carried onto the new context by the perturbation's span map.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from robust_xlt import Lexicon, load_lexicon, perturb
from robust_xlt.data import Answer, Example, PairExample, QAExample
from robust_xlt.training import rng
from robust_xlt.training.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

Span = tuple[int, int]


def smoke_lexicon_path() -> Path:
    """The tiny hand-written lexicon that covers the smoke sample's words (en, de, zh, sw)."""
    return Path(str(resources.files("robust_xlt.data") / "sample" / "lexicon.tsv"))


@dataclass(frozen=True)
class Augmenter:
    """Rewrites a batch's examples; ``passes`` are (mode, rate, seed stream) in order."""

    lexicon: Lexicon
    lang: str
    passes: tuple[tuple[str, float, int], ...]
    target_langs: tuple[str, ...]
    max_edits: int | None
    seed: int

    def __call__(self, examples: Sequence[Example], step: int) -> list[Example]:
        if not examples:
            return []
        if isinstance(examples[0], QAExample):
            return list(self._qa([ex for ex in examples if isinstance(ex, QAExample)], step))
        return list(self._pairs([ex for ex in examples if isinstance(ex, PairExample)], step))

    def _perturb(self, texts: list[str], protect: list[list[Span]] | None, step: int) -> tuple[list[str], list[list[Span]] | None]:
        """Every pass over ``texts``; protected spans come back mapped onto the new texts."""
        for mode, rate, stream in self.passes:
            out = perturb(
                texts,
                self.lang,
                self.lexicon,
                mode=mode,  # type: ignore[arg-type]
                rate=rate,
                seed=rng.derive_seed(self.seed, step, stream),
                target_langs=self.target_langs if mode != "synonym" else None,
                protect=protect,
                max_edits=self.max_edits,
            )
            if protect is not None:
                protect = [[p.map_span(s, e) for s, e in spans] for p, spans in zip(out, protect, strict=True)]
            texts = [p.text for p in out]
        return texts, protect

    def _pairs(self, examples: list[PairExample], step: int) -> list[PairExample]:
        n = len(examples)
        texts, _ = self._perturb([ex.text_a for ex in examples] + [ex.text_b for ex in examples], None, step)
        return [
            PairExample(id=ex.id, text_a=texts[i], text_b=texts[n + i], label=ex.label, lang=ex.lang)
            for i, ex in enumerate(examples)
        ]

    def _qa(self, examples: list[QAExample], step: int) -> list[QAExample]:
        n = len(examples)
        texts = [ex.question for ex in examples] + [ex.context for ex in examples]
        protect: list[list[Span]] = [[] for _ in examples] + [
            [(a.start, a.start + len(a.text)) for a in ex.answers] for ex in examples
        ]
        texts, mapped = self._perturb(texts, protect, step)
        assert mapped is not None
        out = []
        for i, ex in enumerate(examples):
            context = texts[n + i]
            answers = []
            for answer, (start, end) in zip(ex.answers, mapped[n + i], strict=True):
                # Protected spans map exactly; a mismatch would be a core bug, not bad data.
                if context[start:end] != answer.text:
                    raise AssertionError(f"answer {answer.text!r} of {ex.id!r} did not survive augmentation")
                answers.append(Answer(text=answer.text, start=start))
            out.append(QAExample(id=ex.id, question=texts[i], context=context, answers=tuple(answers), lang=ex.lang))
        return out


def build_augmenter(config: TrainConfig) -> Augmenter | None:
    """The augmenter of the config's text methods, or None when it has none."""
    methods = config.text_methods
    if not methods:
        return None
    paths = list(config.lexicon) or [str(smoke_lexicon_path())]
    if not config.lexicon and not config.uses_smoke_sample:
        log.warning("no --lexicon given: using the smoke sample's tiny lexicon, which covers almost no real text")
    for p in paths:
        if not Path(p).expanduser().is_file():
            raise FileNotFoundError(f"lexicon file not found: {p}")
    lexicon = load_lexicon([Path(p).expanduser() for p in paths])
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
    return Augmenter(lexicon, config.source_lang, tuple(passes), targets, config.max_edits, config.seed)


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
