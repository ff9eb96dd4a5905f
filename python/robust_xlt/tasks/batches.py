"""What every task's batches share: the tensor dict, the input settings, padding
trimming and the move to a device.

Batches are built in the main process, one tokenizer (or Rust) call per batch: the
augmentation that precedes them is re-sampled every step, and rayon's thread pool must
stay out of forked DataLoader workers anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

Batch = dict[str, torch.Tensor]

SEQUENCE_KEYS = ("input_ids", "attention_mask", "token_type_ids")
LABEL_KEYS = ("labels", "start_positions", "end_positions")


@dataclass(frozen=True)
class InputSettings:
    """How examples become model inputs and predictions (tokens, except the batch)."""

    max_length: int
    qa_overlap: int = 128
    max_query_length: int = 64
    n_best: int = 20
    max_answer_length: int = 30
    eval_batch_size: int = 64
    # A robust_xlt.qa.QATokenizer built once per run, so QA calls do not serialise the
    # tokenizer each time; None: built from the transformers tokenizer per call.
    qa_tokenizer: Any = None

    @classmethod
    def of(cls, config: Any, qa_tokenizer: Any = None) -> InputSettings:
        """The settings of a resolved training config (any object with these fields)."""
        return cls(
            max_length=int(config.max_length),
            qa_overlap=config.qa_overlap,
            max_query_length=config.max_query_length,
            n_best=config.n_best,
            max_answer_length=config.max_answer_length,
            eval_batch_size=config.eval_batch_size,
            qa_tokenizer=qa_tokenizer,
        )


def trim_padding(batch: Batch) -> Batch:
    """The batch without the padding columns every row has: QA windows come padded to
    max_length, and a batch of short questions would otherwise pay for the full width.
    Attention masks keep padding out of every real token's output, and the QA loss
    masks padding out of its softmax, so only the cost changes (and float rounding)."""
    width = int(batch["attention_mask"].sum(dim=1).max().item()) if len(batch["attention_mask"]) else 0
    return {k: v[:, :width] if k in SEQUENCE_KEYS else v for k, v in batch.items()}


def to_device(batch: Batch, device: torch.device) -> Batch:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def model_inputs(batch: Batch) -> Batch:
    """The keys the model's forward takes besides ids or embeddings (no labels: each
    task computes its own loss)."""
    return {k: v for k, v in batch.items() if k in SEQUENCE_KEYS and k != "input_ids"}
