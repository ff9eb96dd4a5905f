"""Per-language evaluation: accuracy for sentence pairs, SQuAD F1/EM (official and
language-aware) for QA, and the summaries a run reports.

Evaluation is a plain forward pass (no noise, no augmentation), as Robust-XLT's test
time is. Scores are percentages.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from robust_xlt.data import Example, PairExample, QAExample
from robust_xlt.metrics import accuracy, squad_scores
from robust_xlt.training.batches import pair_batch, qa_eval_features, to_device, trim_padding
from robust_xlt.training.config import TrainConfig

log = logging.getLogger(__name__)

CLASSIFICATION_METRICS: tuple[str, ...] = ("accuracy",)
QA_METRICS: tuple[str, ...] = ("f1", "exact_match", "lang_f1", "lang_exact_match")
METRIC_TITLES = {"accuracy": "accuracy", "f1": "F1", "exact_match": "EM", "lang_f1": "lang F1", "lang_exact_match": "lang EM"}


def metric_names(task: str) -> tuple[str, ...]:
    return QA_METRICS if task == "qa" else CLASSIFICATION_METRICS


def evaluate(model: Any, tokenizer: Any, examples: Sequence[Example], config: TrainConfig, device: torch.device) -> dict[str, float]:
    """Scores of one language's examples; the model is left in the mode it was in."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if config.task == "qa":
                return _evaluate_qa(model, tokenizer, [ex for ex in examples if isinstance(ex, QAExample)], config, device)
            return _evaluate_pairs(model, tokenizer, [ex for ex in examples if isinstance(ex, PairExample)], config, device)
    finally:
        model.train(was_training)


def evaluate_languages(
    model: Any, tokenizer: Any, sets: Mapping[str, Sequence[Example]], config: TrainConfig, device: torch.device
) -> dict[str, dict[str, float]]:
    scores = {}
    for lang, examples in sets.items():
        scores[lang] = evaluate(model, tokenizer, examples, config, device)
        main = config.selection_metric
        log.info("eval %s: %s %.2f (%d examples)", lang, main, scores[lang][main], len(examples))
    return scores


def _evaluate_pairs(model: Any, tokenizer: Any, examples: list[PairExample], config: TrainConfig, device: torch.device) -> dict[str, float]:
    # Similar lengths in a batch waste less compute on padding; the order is restored after.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].text_a) + len(examples[i].text_b))
    preds = [0] * len(examples)
    assert config.max_length is not None
    for start in range(0, len(order), config.eval_batch_size):
        idx = order[start : start + config.eval_batch_size]
        batch = to_device(pair_batch(tokenizer, [examples[i] for i in idx], config.max_length, labels=False), device)
        logits = model(**batch).logits
        for i, p in zip(idx, logits.argmax(dim=-1).tolist(), strict=True):
            preds[i] = p
    return {"accuracy": accuracy(preds, [ex.label for ex in examples]), "count": float(len(examples))}


def _evaluate_qa(model: Any, tokenizer: Any, examples: list[QAExample], config: TrainConfig, device: torch.device) -> dict[str, float]:
    from robust_xlt.qa import postprocess

    feats = qa_eval_features(tokenizer, examples, config)
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats]
    n, width = feats["input_ids"].shape
    starts, ends = [], []
    for start in range(0, n, config.eval_batch_size):
        batch: dict[str, torch.Tensor] = {
            k: torch.from_numpy(np.ascontiguousarray(feats[k][start : start + config.eval_batch_size])).long() for k in keys
        }
        out = model(**to_device(trim_padding(batch), device))
        # Trimmed padding columns come back as "never an answer": their offsets are -1 anyway.
        pad = ((0, 0), (0, width - out.start_logits.shape[1]))
        starts.append(np.pad(out.start_logits.float().cpu().numpy(), pad, constant_values=-1e9))
        ends.append(np.pad(out.end_logits.float().cpu().numpy(), pad, constant_values=-1e9))
    start_logits = np.concatenate(starts) if starts else np.zeros((0, feats["input_ids"].shape[1]), np.float32)
    end_logits = np.concatenate(ends) if ends else np.zeros_like(start_logits)
    predictions = postprocess(
        examples, feats, start_logits, end_logits, n_best=config.n_best, max_answer_length=config.max_answer_length
    )
    references = {ex.id: [a.text for a in ex.answers] for ex in examples}
    lang = examples[0].lang if examples else None
    return squad_scores(predictions, references, lang=lang)


def summarize(scores: Mapping[str, Mapping[str, float]], config: TrainConfig) -> dict[str, Any]:
    """Per-language scores and their averages: over every language (XTREME's average,
    the source language included), over the target languages, and over the
    low-resource ones (None when none of them was evaluated)."""
    names = metric_names(config.task)
    langs = list(scores)
    targets = [lang for lang in langs if lang != config.source_lang]
    low = [lang for lang in config.low_resource_langs or () if lang in scores]
    unscored = [lang for lang in config.low_resource_langs or () if lang not in scores]
    if unscored:
        log.warning("low-resource language(s) %s not evaluated: left out of the low-resource average", ", ".join(unscored))
    return {
        "metrics": list(names),
        "languages": {lang: dict(s) for lang, s in scores.items()},
        "average": _mean(scores, langs, names),
        "target_average": _mean(scores, targets, names),
        "low_resource_average": _mean(scores, low, names),
        "source_lang": config.source_lang,
        "target_langs": targets,
        "low_resource_langs": low,
    }


def _mean(scores: Mapping[str, Mapping[str, float]], langs: Sequence[str], names: Sequence[str]) -> dict[str, float] | None:
    if not langs:
        return None
    return {name: float(np.mean([scores[lang][name] for lang in langs])) for name in names}


def markdown_table(summary: Mapping[str, Any]) -> str:
    """A GitHub-markdown table: one row per language, then the averages."""
    names = summary["metrics"]
    source = summary["source_lang"]
    low = set(summary["low_resource_langs"])
    header = "| language | " + " | ".join(METRIC_TITLES[n] for n in names) + " | examples |"
    rule = "|---|" + "---:|" * (len(names) + 1)
    rows = [header, rule]
    for lang, s in summary["languages"].items():
        tag = " (source)" if lang == source else (" (low-resource)" if lang in low else "")
        rows.append(f"| {lang}{tag} | " + " | ".join(f"{s[n]:.2f}" for n in names) + f" | {int(s['count'])} |")

    def avg_row(title: str, values: Mapping[str, float] | None) -> None:
        if values is not None:
            rows.append(f"| {title} | " + " | ".join(f"{values[n]:.2f}" for n in names) + " | |")

    langs = list(summary["languages"])
    avg_row(f"**average** ({len(langs)} languages)", summary["average"])
    avg_row(f"target average ({', '.join(summary['target_langs'])})", summary["target_average"])
    avg_row(f"low-resource average ({', '.join(summary['low_resource_langs'])})", summary["low_resource_average"])
    return "\n".join(rows) + "\n"
