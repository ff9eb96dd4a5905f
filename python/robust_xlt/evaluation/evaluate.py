"""One model on one language, or on each of several."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from robust_xlt.data import Example
from robust_xlt.tasks import InputSettings, Predictions, Task

log = logging.getLogger(__name__)


def evaluate(
    task: Task, model: Any, tokenizer: Any, examples: Sequence[Example], settings: InputSettings, device: torch.device
) -> Predictions:
    """(scores, per-example records) of ``examples``; no gradients, no dropout."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return task.predict(model, tokenizer, task.examples(examples), settings, device)
    finally:
        model.train(was_training)


def evaluate_languages(
    task: Task,
    model: Any,
    tokenizer: Any,
    sets: Mapping[str, Sequence[Example]],
    settings: InputSettings,
    device: torch.device,
) -> dict[str, Predictions]:
    """Each language's (scores, records), in the order of ``sets``."""
    out: dict[str, Predictions] = {}
    for lang, examples in sets.items():
        out[lang] = evaluate(task, model, tokenizer, examples, settings, device)
        main = task.selection_metric
        log.info("eval %s: %s %.2f (%d examples)", lang, main, out[lang][0][main], len(examples))
    return out
