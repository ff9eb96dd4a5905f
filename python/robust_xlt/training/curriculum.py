"""Difficulty that varies during training: one number per step, the share of full
strength the step's perturbations use.

What a difficulty d in (0, 1] scales, method by method:

- rs-da, codeswitch: the substitution rate x d; codeswitch also mixes in only the first
  ceil(d x n) of its n target languages, so easy steps switch into one language.
- adv-sub: the adversary's budget x d (at least one word while the budget allows one).
- adv: the ascent step and the radius x d; rs-rp: the noise scale x d.

Schedules, with T = curriculum_end x the run's steps and d0 = curriculum_start:

- none: d = 1 at every step: the method itself, bit for bit.
- linear: d rises linearly from d0 at step 0 to 1 at step T, then stays at 1.
- step: the same ramp in curriculum_levels equal jumps (d0, ..., 1).
- relevance: the rates and budgets stay full; d is the share of an example's
  changeable words open to change, the least relevant to the model's prediction first
  (|gradient x input| summed over a word's pieces, Progressive Code-Switching's
  order), and rises as linear. Embedding methods follow the linear ramp.
- adaptive: d_{t+1} = clip(d_t - adaptive_rate x (observed_t - target), d0, 1). The
  observed rate is the adversary's success rate (adv-sub: the share of attacked
  examples whose prediction flipped), or, without adv-sub, the share of the step's
  perturbed training examples the model got wrong. Difficulty rises while the model
  resists and falls back when it breaks; no published system adapts this way.

Replay keeps earlier levels in the mix: with probability curriculum_replay (drawn
from (seed, step)) a step uses a difficulty drawn uniformly from [d0, d_t) instead of
d_t. Adaptive moves only on steps at its own level, so a replayed easy step does not
push it up.

A schedule is a pure function of (seed, step, what the model did): the only state is
adaptive's current d, carried in the resume checkpoint, and every step's difficulty
is logged (metrics.jsonl, event "curriculum").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robust_xlt.training import rng
from robust_xlt.training.config import TrainConfig

__all__ = ["Curriculum", "Difficulty"]


@dataclass(frozen=True)
class Difficulty:
    """One step's difficulty: ``value`` scales the methods' strength (1: full), except
    under relevance, where strength is full and ``open_share`` of the words may change."""

    value: float
    open_share: float
    replay: bool

    @property
    def full(self) -> bool:
        return self.value == 1.0 and self.open_share == 1.0


FULL = Difficulty(1.0, 1.0, False)


class Curriculum:
    """The schedule of a config over ``total`` steps (module docstring)."""

    def __init__(self, config: TrainConfig, total: int) -> None:
        self.kind = config.curriculum
        self.start, self.end_share = config.curriculum_start, config.curriculum_end
        self.levels, self.replay_share = config.curriculum_levels, config.curriculum_replay
        self.target, self.rate = config.adaptive_target, config.adaptive_rate
        self.seed, self.total = config.seed, total
        # Adaptive's level: starts easy, then follows the model.
        self.adaptive_value = self.start

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def ramp(self, step: int) -> float:
        """linear's d at ``step`` (0-based): d0 at 0, 1 from step T on."""
        horizon = max(self.end_share * self.total, 1.0)
        return min(1.0, self.start + (1.0 - self.start) * step / horizon)

    def current(self, step: int) -> float:
        """The schedule's own level at ``step``, before replay."""
        if self.kind in ("linear", "relevance"):
            return self.ramp(step)
        if self.kind == "step":
            # Levels d0 + (1 - d0) x j / (levels - 1): the first levels - 1 each held
            # for an equal share of T, full strength from T on, as linear.
            if self.levels == 1:
                return 1.0
            horizon = max(self.end_share * self.total, 1.0)
            j = min(self.levels - 1, math.floor(step / horizon * (self.levels - 1)))
            return self.start + (1.0 - self.start) * j / (self.levels - 1)
        if self.kind == "adaptive":
            return self.adaptive_value
        return 1.0

    def at(self, step: int) -> Difficulty:
        """The difficulty step ``step`` trains at."""
        if not self.active:
            return FULL
        level = self.current(step)
        replay = False
        if self.replay_share > 0 and level > self.start:
            draw = np.random.default_rng(rng.derive_seed(self.seed, step, rng.CURRICULUM))
            if draw.random() < self.replay_share:
                level = float(self.start + (level - self.start) * draw.random())
                replay = True
        if self.kind == "relevance":
            return Difficulty(1.0, level, replay)
        return Difficulty(level, 1.0, replay)

    def observe(self, difficulty: Difficulty, success_rate: float | None) -> None:
        """Adaptive's update after a step at ``difficulty`` whose adversary succeeded at
        ``success_rate`` (None: nothing was attacked, no update)."""
        if self.kind != "adaptive" or difficulty.replay or success_rate is None:
            return
        moved = self.adaptive_value - self.rate * (success_rate - self.target)
        self.adaptive_value = float(min(1.0, max(self.start, moved)))

    def to_state(self) -> dict[str, Any]:
        return {"adaptive_value": self.adaptive_value}

    def load_state(self, state: dict[str, Any] | None) -> None:
        if state:
            self.adaptive_value = float(state["adaptive_value"])
