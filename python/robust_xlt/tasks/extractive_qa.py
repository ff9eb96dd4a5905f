"""Extractive QA (any SQuAD-format set): windows with span labels, the masked span
loss, decoded answers with SQuAD and language-aware scores, and rewrites that keep
every answer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from robust_xlt.data import Answer, QAExample
from robust_xlt.metrics import SQUAD_METRICS, squad_example_scores
from robust_xlt.tasks.batches import Batch, InputSettings, to_device, trim_padding

METRICS: tuple[str, ...] = SQUAD_METRICS
Spans = list[list[tuple[int, int]]]


def _tokenizer(tokenizer: Any, settings: InputSettings) -> Any:
    return settings.qa_tokenizer if settings.qa_tokenizer is not None else tokenizer


def train_batch(tokenizer: Any, examples: Sequence[QAExample], settings: InputSettings) -> Batch:
    """Every window of every question, labelled with the first answer's token span."""
    from robust_xlt.qa import prepare_train_features

    feats = prepare_train_features(
        examples,
        _tokenizer(tokenizer, settings),
        max_length=settings.max_length,
        stride=settings.qa_overlap,
        max_query_length=settings.max_query_length,
    )
    keys = ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions")
    return {k: torch.from_numpy(np.ascontiguousarray(feats[k])).long() for k in keys if k in feats}


def check_inputs(tokenizer: Any, examples: Sequence[QAExample], settings: InputSettings, where: str) -> None:
    """Build every example's windows once before training, so an input the model cannot
    read (a question of only zero-width characters: no tokens) fails now, naming the
    example's id and its data set, not after training with a batch index. Settings
    whose windows cannot hold an overlap fail first, naming the numbers."""
    from robust_xlt.qa import prepare_eval_features

    _check_window_room(tokenizer, settings)
    chunk = 512
    for start in range(0, len(examples), chunk):
        part = examples[start : start + chunk]
        try:
            prepare_eval_features(
                part,
                _tokenizer(tokenizer, settings),
                max_length=settings.max_length,
                stride=settings.qa_overlap,
                max_query_length=settings.max_query_length,
            )
        except ValueError as exc:
            message = str(exc)
            head, _, rest = message.partition(": ")
            if head.startswith("example ") and head[8:].isdigit() and int(head[8:]) < len(part):
                ex = part[int(head[8:])]
                raise ValueError(f"{where}: question {ex.id!r} ({ex.lang}): {rest}") from None
            raise ValueError(f"{where}: {message}") from None


def _check_window_room(tokenizer: Any, settings: InputSettings) -> None:
    """The feature code's own condition, stated in flags: a window of max_length tokens
    holds the special tokens, up to max_query_length question tokens and the rest of
    the context, and consecutive windows must share fewer context tokens than that."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    room = settings.max_length - specials - settings.max_query_length
    if room > settings.qa_overlap:
        return
    sizes = f"max_length {settings.max_length} - {specials} special tokens - max_query_length {settings.max_query_length} = {room}"
    if room <= 0:
        raise ValueError(
            f"qa windows hold no context: {sizes} context tokens; give --max-length above "
            f"{specials + settings.max_query_length + settings.qa_overlap} or a smaller --max-query-length"
        )
    raise ValueError(
        f"qa_overlap {settings.qa_overlap} does not fit in a window: {sizes} context tokens, and consecutive "
        f"windows must share fewer than that; give --qa-overlap {room - 1} or less, a larger --max-length "
        "or a smaller --max-query-length"
    )


def loss(outputs: Any, batch: Batch) -> torch.Tensor:
    """Mean of the start and end cross-entropies, as transformers' QA heads, but over
    the window's real tokens only: padding is masked out of both softmaxes, so the
    loss of a window does not depend on how far its batch is padded (trimmed per
    batch, or per micro-batch under gradient accumulation)."""
    real = batch["attention_mask"].bool()
    total = torch.zeros((), device=real.device)
    for logits, positions in ((outputs.start_logits, batch["start_positions"]), (outputs.end_logits, batch["end_positions"])):
        masked = logits.float().masked_fill(~real, float("-inf"))
        total = total + torch.nn.functional.cross_entropy(masked, positions)
    return total / 2


def errors(outputs: Any, batch: Batch) -> tuple[int, int]:
    """(windows whose most likely start or end is not the labelled one, windows): the
    training pass's own error count, which an adaptive curriculum reads."""
    real = batch["attention_mask"].bool()
    wrong = torch.zeros(real.shape[0], dtype=torch.bool, device=real.device)
    for logits, positions in ((outputs.start_logits, batch["start_positions"]), (outputs.end_logits, batch["end_positions"])):
        wrong |= logits.detach().float().masked_fill(~real, float("-inf")).argmax(-1) != positions
    return int(wrong.sum()), int(real.shape[0])


def predict(
    model: Any, tokenizer: Any, examples: Sequence[QAExample], settings: InputSettings, device: torch.device
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """F1 / EM (official SQuAD v1.1 and language-aware) of one language, and per
    question: id, predicted text, gold answers and its four scores in [0, 1]."""
    from robust_xlt.qa import postprocess, prepare_eval_features

    feats = prepare_eval_features(
        examples,
        _tokenizer(tokenizer, settings),
        max_length=settings.max_length,
        stride=settings.qa_overlap,
        max_query_length=settings.max_query_length,
    )
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in feats]
    n, width = feats["input_ids"].shape
    starts, ends = [], []
    for start in range(0, n, settings.eval_batch_size):
        batch: Batch = {
            k: torch.from_numpy(np.ascontiguousarray(feats[k][start : start + settings.eval_batch_size])).long() for k in keys
        }
        out = model(**to_device(trim_padding(batch), device))
        # Trimmed padding columns come back as "never an answer": their offsets are -1 anyway.
        pad = ((0, 0), (0, width - out.start_logits.shape[1]))
        starts.append(np.pad(out.start_logits.float().cpu().numpy(), pad, constant_values=-1e9))
        ends.append(np.pad(out.end_logits.float().cpu().numpy(), pad, constant_values=-1e9))
    start_logits = np.concatenate(starts) if starts else np.zeros((0, width), np.float32)
    end_logits = np.concatenate(ends) if ends else np.zeros_like(start_logits)
    answers = postprocess(examples, feats, start_logits, end_logits, n_best=settings.n_best, max_answer_length=settings.max_answer_length)
    records = []
    for ex in examples:
        golds = [a.text for a in ex.answers]
        scores = squad_example_scores(ex.id, answers[ex.id], golds)
        records.append({"id": ex.id, "prediction": answers[ex.id], "gold": golds, **{k: round(v, 6) for k, v in scores.items()}})
    if not records:
        raise ValueError("no questions to score")
    summary = {name: 100.0 * float(np.mean([r[name] for r in records])) for name in METRICS}
    return {**summary, "count": float(len(records))}, records


def rewrite(examples: Sequence[QAExample], rewrite_texts: Callable[[list[str], Spans | None], tuple[list[str], Spans | None]]) -> list[QAExample]:
    """Questions and contexts rewritten in one call with every answer span protected;
    each answer's offset is carried onto the new context by the span map."""
    n = len(examples)
    texts = [ex.question for ex in examples] + [ex.context for ex in examples]
    protect: Spans = [[] for _ in examples] + [[(a.start, a.start + len(a.text)) for a in ex.answers] for ex in examples]
    texts, mapped = rewrite_texts(texts, protect)
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


def mix(first: QAExample, second: QAExample, lang: str) -> QAExample:
    """The generalized setting's question (MLQA's G-XLT): ``first``'s question over
    ``second``'s context, scored against ``second``'s answers, two languages' copies of
    one question id. Nothing here can tell a translation from an unrelated question
    that happens to share its id; :mod:`robust_xlt.evaluation.generalized` refuses
    files that share no id at all."""
    return QAExample(id=first.id, question=first.question, context=second.context, answers=second.answers, lang=lang)
