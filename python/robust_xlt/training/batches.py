"""Cutting a training batch into micro-batches for gradient accumulation."""

from __future__ import annotations

import numpy as np

from robust_xlt.tasks import Batch


def micro_batches(batch: Batch, parts: int) -> list[tuple[Batch, float]]:
    """``batch`` cut into at most ``parts`` consecutive row ranges, each with its share of
    the rows: weighting each part's mean loss by its share and summing the gradients gives
    the gradient of the whole batch's mean loss."""
    rows = len(batch["input_ids"])
    bounds = np.linspace(0, rows, min(parts, rows) + 1).round().astype(int)
    return [
        ({k: v[a:b] for k, v in batch.items()}, (b - a) / rows)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        if b > a
    ]
