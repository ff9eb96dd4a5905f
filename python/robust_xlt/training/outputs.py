"""A run's output folder: the resolved config, metrics as JSON lines, results as JSON
and markdown, and the progress display.

Folder layout::

    config.toml     the resolved config (pass it back with --config to rerun)
    metrics.jsonl   one JSON object per line: "train" (loss, steady step time per log
                    interval), "edits" (per step: what the text methods changed),
                    "dev" (model selection), "checkpoint" (its size and write time),
                    "final" (the per-language results)
    splits.json     which example ids went to train, dev and evaluation, and how
    results.json    per-language scores, averages, the chosen step, edit rates, timing
    results.md      the same as a markdown table
    predictions-{lang}.jsonl   one record per evaluated example (see robust_xlt.evaluation)
    best/           the selected model: safetensors weights, config, tokenizer
    resume/         the resume checkpoint (safetensors); removed when the run finishes
"""

from __future__ import annotations

import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from robust_xlt.atomic import write_json, write_text_atomic

log = logging.getLogger(__name__)

__all__ = ["write_json", "write_text_atomic"]  # the atomic writers, re-exported for the loop

CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.jsonl"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
SPLITS_FILE = "splits.json"
OUTPUT_FILES: tuple[str, ...] = (CONFIG_FILE, METRICS_FILE, RESULTS_JSON, RESULTS_MD, SPLITS_FILE)


class MetricsLog:
    """Appends one JSON object per line, flushed at once so a killed run loses nothing."""

    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled  # False: a process that is not process 0, which writes nothing

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(_finite(record), ensure_ascii=False) + "\n")

    def keep_until(self, step: int) -> None:
        """Drop the records a resumed run will write again: those after ``step``."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by the kill
            if record.get("event") in STEP_EVENTS and record.get("step", math.inf) <= step:
                kept.append(line)
        write_text_atomic(self.path, "".join(k + "\n" for k in kept))


# Events written during training, one per step or evaluation: a resume keeps those up
# to its checkpoint's step and writes the rest again.
STEP_EVENTS: frozenset[str] = frozenset({"train", "edits", "adversary", "curriculum", "dev", "oracle", "checkpoint"})


def _finite(record: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: a diverged loss is written as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


class Progress:
    """A tqdm bar when stderr is a terminal; otherwise one log line per interval:
    ``step 120/500 | loss 0.4100 | lr 1.9e-05 | 3.10 s/step | aug 1.2%``.

    ``s/step`` is the mean time of the interval's training steps alone: evaluations
    and checkpoint writes are timed and logged apart, and a run's first step (model
    warm-up: allocations, kernel selection) is reported once, on its own."""

    def __init__(self, total: int, start: int, log_every: int) -> None:
        self.total, self.log_every = total, log_every
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, file=sys.stderr, dynamic_ncols=True, unit="step")
        self._first = True
        self.first_step_seconds: float | None = None
        self._steps = 0
        self._seconds = 0.0
        self._aug = 0.0

    def step(self, seconds: float, aug_seconds: float) -> None:
        if self._first:
            self._first = False
            self.first_step_seconds = seconds
            log.info("first step: %.2f s (warm-up, left out of s/step)", seconds)
        else:
            self._steps += 1
            self._seconds += seconds
            self._aug += aug_seconds
        if self.bar is not None:
            self.bar.update(1)

    def interval(self, step: int, loss: float, lr: float) -> dict[str, Any]:
        """Report the interval that ends at ``step``; returns its timing for metrics.jsonl."""
        per_step = self._seconds / self._steps if self._steps else None
        aug = self._aug / self._seconds if self._seconds > 0 else 0.0
        timing: dict[str, Any] = {"s_per_step": None if per_step is None else round(per_step, 4), "aug_fraction": round(aug, 5)}
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", refresh=False)
        else:
            aug_note = f" | aug {100 * aug:.1f}%" if self._aug > 0 else ""
            speed = f"{per_step:.2f} s/step" if per_step is not None else "warm-up"
            log.info("step %d/%d | loss %.4f | lr %.2e | %s%s", step, self.total, loss, lr, speed, aug_note)
        self._steps, self._seconds, self._aug = 0, 0.0, 0.0
        return timing

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
