"""Sentence-pair classification (PAWS-X, XNLI): batches, loss, predictions, rewrites."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from robust_xlt.data import PairExample
from robust_xlt.metrics import accuracy
from robust_xlt.tasks.batches import Batch, InputSettings, to_device

METRICS: tuple[str, ...] = ("accuracy",)
Spans = list[list[tuple[int, int]]]


def encode(tokenizer: Any, examples: Sequence[PairExample], max_length: int) -> Batch:
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
    return {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}


def train_batch(tokenizer: Any, examples: Sequence[PairExample], settings: InputSettings) -> Batch:
    batch = encode(tokenizer, examples, settings.max_length)
    batch["labels"] = torch.tensor([ex.label for ex in examples], dtype=torch.long)
    return batch


def check_inputs(tokenizer: Any, examples: Sequence[PairExample], settings: InputSettings, where: str) -> None:
    """Nothing to check before training: the loaders refuse empty sentences, and any
    non-empty text tokenizes (to <unk> at worst)."""


def loss(outputs: Any, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over the batch's pairs."""
    return torch.nn.functional.cross_entropy(outputs.logits.float(), batch["labels"])


def errors(outputs: Any, batch: Batch) -> tuple[int, int]:
    """(pairs predicted wrong, pairs) of a training pass: what an adaptive curriculum reads."""
    labels = batch["labels"]
    return int((outputs.logits.detach().argmax(-1) != labels).sum()), int(labels.shape[0])


def predict(
    model: Any, tokenizer: Any, examples: Sequence[PairExample], settings: InputSettings, device: torch.device
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Accuracy of one language, and per example: id, predicted and gold label,
    correctness and the class probabilities."""
    # Similar lengths in a batch waste less compute on padding; the order is restored after.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].text_a) + len(examples[i].text_b))
    probabilities = np.zeros((len(examples), model.config.num_labels), dtype=np.float64)
    for start in range(0, len(order), settings.eval_batch_size):
        idx = order[start : start + settings.eval_batch_size]
        batch = to_device(encode(tokenizer, [examples[i] for i in idx], settings.max_length), device)
        probs = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
        probabilities[idx] = probs
    preds = probabilities.argmax(axis=1).tolist() if len(examples) else []
    golds = [ex.label for ex in examples]
    records = [
        {
            "id": ex.id,
            "prediction": int(p),
            "gold": int(g),
            "correct": bool(p == g),
            "probabilities": [round(float(x), 6) for x in probabilities[i]],
        }
        for i, (ex, p, g) in enumerate(zip(examples, preds, golds, strict=True))
    ]
    scores = {"accuracy": accuracy(preds, golds), "count": float(len(examples))}
    return scores, records


def rewrite(
    examples: Sequence[PairExample], rewrite_texts: Callable[[list[str], Spans | None], tuple[list[str], Spans | None]]
) -> list[PairExample]:
    """Both sentences of every pair rewritten in one call; ids and labels kept."""
    n = len(examples)
    texts, _ = rewrite_texts([ex.text_a for ex in examples] + [ex.text_b for ex in examples], None)
    return [
        PairExample(id=ex.id, text_a=texts[i], text_b=texts[n + i], label=ex.label, lang=ex.lang)
        for i, ex in enumerate(examples)
    ]


def mix(first: PairExample, second: PairExample, lang: str) -> PairExample:
    """The generalized setting's pair: ``first``'s text_a with ``second``'s text_b, two
    languages' copies of one row. Copies with different labels are not translations
    of each other: a ValueError naming the row."""
    if first.label != second.label:
        raise ValueError(
            f"row {first.id!r} has different labels in {first.lang} ({first.label}) and {second.lang} "
            f"({second.label}); the files are not row-aligned"
        )
    return PairExample(id=first.id, text_a=first.text_a, text_b=second.text_b, label=first.label, lang=lang)
