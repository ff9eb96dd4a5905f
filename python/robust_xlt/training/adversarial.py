"""The word adversary inside training: adv-sub's online adversarial examples, and the
relevance order a relevance curriculum opens words in.

adv-sub (online discrete adversarial training). Every ``adv_sub_every`` steps, a share
``adv_sub_share`` of the batch (examples drawn from (seed, step)) is attacked with the
current model by the searching adversary of ``robust_xlt.adversary``: eval mode, one
gradient pass to rank every (word, candidate), then at most ``adv_sub_rounds`` rounds of
greedy search, each verifying ``adv_sub_per_round`` substitutions per example with
batched queries, under a budget of ``adv_sub_budget`` of the example's words (times the
curriculum's difficulty). Each attacked example is replaced in the batch by the best
variant found (a flip when there was one, else the variant that raised the loss most;
an example the model already gets wrong stays as it is), and the batch is trained on
as usual, so clean examples keep their share of the gradient. The search is
deterministic given the model, so a resumed run finds the same examples. Where the
device has native bf16 the search runs in it (AttackConfig.precision), its outcomes
checked in fp32.

Cost per attacked step: one forward and backward pass over the attacked share (the
ranking), one query pass over it, and at most rounds x per_round query passes over the
examples still unbroken; with the defaults that is at most 2.5x a standard step
(README, benches/bench_train_step.py).

Relevance: a word's relevance to the prediction is |sum over its pieces of e_p . G_p|
(gradient x input, Progressive Code-Switching's measure) from one eval-mode gradient
pass; a relevance curriculum leaves the least relevant share of each example's
changeable words open and protects the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from robust_xlt._core import Lexicon
from robust_xlt.adversary import AttackConfig, attack, build_space, victim_for
from robust_xlt.adversary.ranking import align_words, words_of
from robust_xlt.perturbation import Span
from robust_xlt.tasks import InputSettings, Task
from robust_xlt.training import rng
from robust_xlt.training.config import TrainConfig

__all__ = ["AdversaryStats", "OnlineAdversary", "relevance_protection"]

log = logging.getLogger(__name__)

# Per example and text (slot), the code-point spans left unchanged.
Protect = list[list[list[Span]]]


@dataclass
class AdversaryStats:
    """adv-sub's counts over a step or a run: examples attacked (the model had them
    right), flipped, words changed among the words of the attacked examples, texts
    queried, seconds."""

    steps: int = 0
    examples: int = 0
    attacked: int = 0
    successes: int = 0
    changed: int = 0
    words: int = 0
    queries: int = 0
    seconds: float = 0.0
    by_budget: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attacked if self.attacked else None

    def merge(self, other: AdversaryStats) -> None:
        for name in ("steps", "examples", "attacked", "successes", "changed", "words", "queries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        for key, n in other.by_budget.items():
            self.by_budget[key] = self.by_budget.get(key, 0) + n

    def summary(self, timed: bool = True) -> dict[str, Any]:
        """Counts and shares; ``timed`` adds the seconds (not in results.json, which a
        resumed run must reproduce byte for byte)."""
        out = {
            "steps": self.steps,
            "examples": self.examples,
            "attacked": self.attacked,
            "successes": self.successes,
            "success_rate": None if self.success_rate is None else round(self.success_rate, 5),
            "changed_share": round(self.changed / max(self.words, 1), 5),
            "queries_per_example": round(self.queries / max(self.examples, 1), 3),
            "steps_by_budget": dict(sorted(self.by_budget.items())),
        }
        if timed:
            out["seconds"] = round(self.seconds, 2)
        return out

    def to_state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> AdversaryStats:
        if not state:
            return cls()
        return cls(**{**state, "by_budget": dict(state.get("by_budget", {}))})


@dataclass(frozen=True)
class OnlineAdversary:
    """adv-sub for one run (module docstring)."""

    task: Task
    tokenizer: Any
    settings: InputSettings
    lexicon: Lexicon
    attack_config: AttackConfig
    share: float
    every: int
    seed: int

    def __call__(
        self, model: Any, examples: Sequence[Any], step: int, strength: float = 1.0, protect: Protect | None = None
    ) -> tuple[list[Any], AdversaryStats | None]:
        """The batch with its attacked share replaced by adversarial versions, and the
        step's counts; (the batch, None) on steps that do not attack."""
        out = list(examples)
        if step % self.every != 0 or not out or self.share == 0:
            return out, None
        n = len(out)
        k = min(n, max(1, round(self.share * n)))
        draw = np.random.default_rng(rng.derive_seed(self.seed, step, rng.ADV_SUB))
        chosen = sorted(draw.choice(n, size=k, replace=False).tolist())
        budget = self.attack_config.budget * strength
        config = dataclasses.replace(self.attack_config, budget=budget, batch_size=k)
        start = time.perf_counter()
        result = attack(
            self.task,
            model,
            self.tokenizer,
            [out[i] for i in chosen],
            self.lexicon,
            config,
            settings=self.settings,
            protect=None if protect is None else [protect[i] for i in chosen],
        )
        stats = AdversaryStats(steps=1, examples=k, seconds=time.perf_counter() - start, by_budget={f"{budget:.4g}": 1})
        for i, record in zip(chosen, result.examples, strict=True):
            stats.queries += record.queries
            if record.skipped:
                continue
            stats.attacked += 1
            stats.successes += int(record.success)
            stats.changed += len(record.edits)
            stats.words += record.words
            out[i] = record.example
        return out, stats


def build_adversary(c: TrainConfig, task: Task, tokenizer: Any, settings: InputSettings, lexicon: Lexicon, targets: tuple[str, ...]) -> OnlineAdversary:
    """adv-sub of a resolved config, over the run's lexicon and code-switching languages."""
    config = AttackConfig(
        mode=c.adv_sub_mode,  # type: ignore[arg-type]  # checked by the config
        target_langs=targets if c.adv_sub_mode != "synonym" else None,
        budget=c.adv_sub_budget,
        per_round=c.adv_sub_per_round,
        max_rounds=c.adv_sub_rounds,
        # The search adv-sub's cost was measured with (README): a few rounds of the
        # few best (word, candidate) pairs, not the evaluation attack's walk over the
        # words, which needs many rounds. Its arithmetic follows the attack's default.
        ranking="gradient",
        per_word=1,
        stopwords=c.stopwords,  # type: ignore[arg-type]
        query_batch_size=None,
    )
    log.info(
        "adv-sub: %s substitutions into %s, budget %g of the words, %d rounds x %d per round, "
        "%.0f%% of every %s batch",
        c.adv_sub_mode,
        ", ".join(targets) if config.target_langs else c.source_lang,
        c.adv_sub_budget,
        c.adv_sub_rounds,
        c.adv_sub_per_round,
        100 * c.adv_sub_share,
        "" if c.adv_sub_every == 1 else f"{c.adv_sub_every}th",
    )
    return OnlineAdversary(task, tokenizer, settings, lexicon, config, c.adv_sub_share, c.adv_sub_every, c.seed)


def relevance_protection(
    task: Task,
    model: Any,
    tokenizer: Any,
    settings: InputSettings,
    examples: Sequence[Any],
    lexicon: Lexicon,
    config: AttackConfig,
    open_share: float,
) -> Protect:
    """Per example and text, the spans of its changeable words (those with a candidate
    under ``config``) outside the least relevant ``open_share`` of them: the words a
    relevance curriculum keeps this step. Relevance ties keep text order. The model's
    mode is restored; its parameter gradients are untouched."""
    spaces = build_space(task, examples, lexicon, config)
    words = [words_of(space)[0] for space in spaces]
    protect: Protect = [[[] for _ in space.texts] for space in spaces]
    if not any(words):
        return protect
    was_training = model.training
    model.eval()
    try:
        grads = victim_for(task, model, tokenizer, settings).gradient(list(examples))
    finally:
        model.train(was_training)
    tokens, owner = align_words(words, grads)
    dim = grads.grad.shape[-1]
    contribution = (grads.embeds.reshape(-1, dim).float()[tokens] * grads.grad.reshape(-1, dim).float()[tokens]).sum(-1)
    n_words = sum(len(w) for w in words)
    relevance = torch.zeros(n_words).index_add_(0, torch.from_numpy(owner), contribution.cpu()).abs().numpy()
    at = 0
    for i, ws in enumerate(words):
        scores = relevance[at : at + len(ws)]
        at += len(ws)
        opened = math.ceil(open_share * len(ws) - 1e-9)
        order = sorted(range(len(ws)), key=lambda j: (scores[j], j))
        for j in order[opened:]:
            slot, start, end = ws[j]
            protect[i][slot].append((start, end))
    return protect
