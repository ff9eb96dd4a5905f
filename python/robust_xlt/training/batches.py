"""Examples to model inputs: tokenised sentence pairs, or QA windows with span labels.

Batches are built in the main process, one tokenizer (or Rust) call per batch: the
augmentation that precedes them is re-sampled every step, and rayon's thread pool must
stay out of forked DataLoader workers anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from robust_xlt.data import Example, PairExample, QAExample
from robust_xlt.training.config import TrainConfig

Batch = dict[str, torch.Tensor]


def pair_batch(tokenizer: Any, examples: Sequence[PairExample], max_length: int, *, labels: bool = True) -> Batch:
    """Token ids of (text_a, text_b) pairs, padded to the longest pair of the batch;
    pairs longer than ``max_length`` lose tokens from the longer side first."""
    enc = tokenizer(
        [ex.text_a for ex in examples],
        [ex.text_b for ex in examples],
        truncation="longest_first",
        max_length=max_length,
        padding="longest",
        return_tensors="pt",
    )
    batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    if labels:
        batch["labels"] = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    return batch


def qa_train_batch(tokenizer: Any, examples: Sequence[QAExample], config: TrainConfig) -> Batch:
    """Every window of every question, labelled with the first answer's token span."""
    from robust_xlt.qa import prepare_train_features

    feats = prepare_train_features(
        examples,
        tokenizer,
        max_length=_max_length(config),
        stride=config.qa_overlap,
        max_query_length=config.max_query_length,
    )
    keys = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
    return {k: torch.from_numpy(np.ascontiguousarray(feats[k])).long() for k in keys if k in feats}


def qa_eval_features(tokenizer: Any, examples: Sequence[QAExample], config: TrainConfig) -> dict[str, np.ndarray]:
    from robust_xlt.qa import prepare_eval_features

    return prepare_eval_features(
        examples,
        tokenizer,
        max_length=_max_length(config),
        stride=config.qa_overlap,
        max_query_length=config.max_query_length,
    )


def train_batch(tokenizer: Any, examples: Sequence[Example], config: TrainConfig) -> Batch:
    if config.task == "qa":
        return qa_train_batch(tokenizer, [ex for ex in examples if isinstance(ex, QAExample)], config)
    return pair_batch(tokenizer, [ex for ex in examples if isinstance(ex, PairExample)], _max_length(config))


SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def trim_padding(batch: Batch) -> Batch:
    """The batch without the padding columns every row has: QA windows come padded to
    max_length, and a batch of short questions would otherwise pay for the full width.
    Attention masks keep padding out of every real token's output, so only the cost
    changes (and float rounding, at the last bit)."""
    width = int(batch["attention_mask"].sum(dim=1).max().item()) if len(batch["attention_mask"]) else 0
    return {k: v[:, :width] if k in SEQUENCE_KEYS else v for k, v in batch.items()}


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


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def model_inputs(batch: Batch) -> Batch:
    """The keys the model takes besides ids or embeddings (masks and labels)."""
    return {k: v for k, v in batch.items() if k != "input_ids"}


def _max_length(config: TrainConfig) -> int:
    assert config.max_length is not None, "resolve the config first"
    return config.max_length
