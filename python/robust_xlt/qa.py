"""Extractive-QA features and answer decoding, as transformers' `run_qa.py` does them.

`prepare_train_features` and `prepare_eval_features` tokenize a whole batch of
(question, context) pairs in one Rust call with the GIL released; `postprocess` turns
start/end logits back into answer strings of the original contexts.

Windows: the question comes first and is cut to `max_query_length` tokens; the context
is cut into windows so that each feature has at most `max_length` tokens, special
tokens included. `stride` is the number of context tokens two consecutive windows
share (transformers' meaning), not the step between window starts (the legacy SQuAD
and XTREME `doc_stride`). The XTREME TyDiQA settings are max_length 384, stride 128,
max_query_length 64.

Where this differs from `run_qa.py`, on purpose:
- the question is cut to `max_query_length` tokens (the legacy SQuAD/XTREME scripts do
  this, `run_qa.py` does not);
- offsets are code points into the original context with whitespace at either end
  trimmed (XLM-R-style Metaspace tokenizers put the space before a word in its offsets,
  so decoded answers would start with a space);
- an answer that starts in the last context token of a window is labelled with that
  token: `run_qa.py`'s scan runs on into the special and padding tokens after it;
- where tokens share offsets (a lone Metaspace "▁" aligned with the letter after it),
  `run_qa.py` can label an end before the start; the two are swapped;
- whitespace at either end of a gold answer is left out of the span to label.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import tokenizers

from robust_xlt import _core

__all__ = [
    "AnswerLike",
    "QAExampleLike",
    "QATokenizer",
    "postprocess",
    "prepare_eval_features",
    "prepare_train_features",
]


class AnswerLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def start(self) -> int:
        """Code-point offset of the answer in the context."""
        ...


class QAExampleLike(Protocol):
    """What the QA functions read from an example (e.g. `robust_xlt.data.examples.QAExample`)."""

    @property
    def id(self) -> str: ...

    @property
    def question(self) -> str: ...

    @property
    def context(self) -> str: ...

    @property
    def answers(self) -> Sequence[AnswerLike]: ...


# rayon's thread pool does not survive fork(): in a forked child (a DataLoader
# worker) the batch runs on the calling thread instead of deadlocking.
_in_forked_child = False


def _after_fork_in_child() -> None:
    global _in_forked_child
    _in_forked_child = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _tokenizer_settings(tokenizer: Any) -> tuple[str, int | None, bool]:
    """tokenizer.json text, pad id (None: the core takes the tokenizer's own) and
    whether the model takes token_type_ids."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if isinstance(backend, tokenizers.Tokenizer):
        return backend.to_str(), tokenizer.pad_token_id, "token_type_ids" in tokenizer.model_input_names
    if isinstance(tokenizer, tokenizers.Tokenizer):
        return tokenizer.to_str(), None, True
    raise TypeError(
        "expected a transformers fast tokenizer or a tokenizers.Tokenizer (or, for the feature functions, "
        f"a robust_xlt.qa.QATokenizer), got {type(tokenizer).__name__}"
    )


class QATokenizer:
    """A tokenizer for `prepare_train_features` and `prepare_eval_features`, parsed
    by the Rust core once.

    Given a transformers fast tokenizer or a `tokenizers.Tokenizer`, those functions
    serialise it to JSON on every call (about 40 ms for the 250k-piece XLM-R
    tokenizer) so that a tokenizer changed since the last call is never stale. Build
    one of these per run instead and pass it: it is a snapshot of `tokenizer` (its
    tokenizer.json, pad id and whether the model takes token_type_ids), and later
    changes to `tokenizer` do not reach it. Immutable; safe to share across threads.
    """

    __slots__ = ("_core", "_pad_id", "_token_type_ids")

    def __init__(self, tokenizer: Any) -> None:
        tokenizer_json, pad_id, with_types = _tokenizer_settings(tokenizer)
        self._core = _core.QATokenizer.from_json(tokenizer_json)
        self._pad_id = pad_id
        self._token_type_ids = with_types

    @property
    def pad_id(self) -> int | None:
        """The id rows are padded with: the transformers tokenizer's pad token, else
        the tokenizer.json's padding settings or `<pad>` / `[PAD]` token; None when
        there is none (the feature functions then raise ValueError)."""
        return self._core.pad_id if self._pad_id is None else self._pad_id

    @property
    def token_type_ids(self) -> bool:
        """Whether the features include `token_type_ids` (the model takes them)."""
        return self._token_type_ids

    def __repr__(self) -> str:
        return (
            f"QATokenizer({self._core.vocab_size} pieces, pad_id={self.pad_id}, "
            f"token_type_ids={self._token_type_ids})"
        )


def _first_answer(index: int, example: QAExampleLike) -> tuple[int, int] | None:
    """(start, length) of the answer to label. A span whose text is not the context's
    at that start would label the wrong tokens without a word, so it is refused (the
    loaders check every answer; this catches examples built some other way)."""
    if not example.answers:
        return None
    answer = example.answers[0]
    if answer.start < 0:
        raise ValueError(f"example {index}: answer start {answer.start} is negative")
    end = answer.start + len(answer.text)
    found = example.context[answer.start : end]
    # Spans outside the context and blank answers are the core's to report.
    if end <= len(example.context) and answer.text.strip() and found != answer.text:
        ident = getattr(example, "id", None)
        which = "" if ident is None else f" of question {ident!r}"
        raise ValueError(
            f"example {index}: the answer{which} is {answer.text!r}, but the context holds {found!r} at its start {answer.start}"
        )
    return answer.start, len(answer.text)


def _prepare(
    train: bool, examples: Sequence[QAExampleLike], tokenizer: Any, max_length: int, stride: int, max_query_length: int
) -> dict[str, np.ndarray]:
    for name, value in (("max_length", max_length), ("stride", stride), ("max_query_length", max_query_length)):
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
    qa_tokenizer = tokenizer if isinstance(tokenizer, QATokenizer) else QATokenizer(tokenizer)
    questions = [ex.question.lstrip() for ex in examples]  # as run_qa.py does
    contexts = [ex.context for ex in examples]
    settings: dict[str, Any] = dict(
        max_length=max_length,
        stride=stride,
        max_query_length=max_query_length,
        pad_id=qa_tokenizer.pad_id,
        parallel=not _in_forked_child,
    )
    features: dict[str, np.ndarray]
    if train:
        answers = [_first_answer(i, ex) for i, ex in enumerate(examples)]
        features = _core.qa_train_features(qa_tokenizer._core, questions, contexts, answers, **settings)
    else:
        features = _core.qa_eval_features(qa_tokenizer._core, questions, contexts, **settings)
        features["example_id"] = features["overflow_to_sample_mapping"]
    if not qa_tokenizer.token_type_ids:
        del features["token_type_ids"]
    return features


def prepare_train_features(
    examples: Sequence[QAExampleLike],
    tokenizer: QATokenizer | Any,
    max_length: int = 384,
    stride: int = 128,
    max_query_length: int = 64,
) -> dict[str, np.ndarray]:
    """Training features for a batch of examples, labelled with their first answer.

    Each feature holds at most `max_length` tokens, special tokens included: the
    question cut to `max_query_length` tokens, then one window of the context.
    Consecutive windows of a context share `stride` tokens (the overlap, as in
    transformers; not the legacy `doc_stride`, which was the step between windows).

    Returns int64 arrays: `input_ids`, `attention_mask` and, when the tokenizer's model
    takes them, `token_type_ids` ([n_features, max_length], padded with the pad id);
    `start_positions` and `end_positions` (token indices of the answer's first and last
    token; 0, the CLS position, when the answer is not wholly inside the window or the
    example has none); `overflow_to_sample_mapping` (the example index of each feature).

    `tokenizer` is a `QATokenizer`, a transformers fast tokenizer or a
    `tokenizers.Tokenizer`. One call tokenizes the whole batch (each distinct context
    once). Given anything but a `QATokenizer`, each call also serialises the tokenizer
    (about 40 ms for the 250k-piece XLM-R one): build a `QATokenizer` once and pass it
    when calling per training batch.

    Raises ValueError naming the example for an empty question or context, an answer
    outside its context or whose text is not the context's at its start, or settings whose windows cannot fit
    (stride must be below max_length - special tokens - max_query_length).
    """
    return _prepare(True, examples, tokenizer, max_length, stride, max_query_length)


def prepare_eval_features(
    examples: Sequence[QAExampleLike],
    tokenizer: QATokenizer | Any,
    max_length: int = 384,
    stride: int = 128,
    max_query_length: int = 64,
) -> dict[str, np.ndarray]:
    """Evaluation features: the windows of `prepare_train_features` without labels.

    Besides the id, mask and type arrays: `offset_mapping`, int32 [n_features,
    max_length, 2], code-point offsets of each context token into its original context
    (whitespace trimmed), -1 for question, special and padding tokens; and `example_id`,
    the example index of each feature (the same array as `overflow_to_sample_mapping`).
    """
    return _prepare(False, examples, tokenizer, max_length, stride, max_query_length)


def postprocess(
    examples: Sequence[QAExampleLike],
    features: Mapping[str, np.ndarray],
    start_logits: Any,
    end_logits: Any,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Answer text per example id from the logits of `prepare_eval_features` features.

    As `run_qa.py`: in each feature the `n_best` highest start and end logits are
    paired; pairs with a non-context token, end before start, or more than
    `max_answer_length` tokens are dropped; the pair with the highest start + end logit
    over all features of an example wins (the first one on ties), and its text is cut
    from the original context. An example with no valid pair gets "".
    """
    offsets = np.asarray(features["offset_mapping"])
    example_of = np.asarray(features["example_id"])
    start_logits = np.asarray(start_logits)
    end_logits = np.asarray(end_logits)
    if start_logits.shape != offsets.shape[:2] or end_logits.shape != offsets.shape[:2]:
        raise ValueError(
            f"start_logits {start_logits.shape} and end_logits {end_logits.shape} must both have the "
            f"shape of the features, {offsets.shape[:2]}"
        )
    n, width = offsets.shape[:2]
    k = min(n_best, width)
    rows = np.arange(n)[:, None]
    # Descending, ties in the order np.argsort(x)[-1:-k-1:-1] gives them, as run_qa.py.
    top_start = np.argsort(start_logits, axis=1)[:, ::-1][:, :k]
    top_end = np.argsort(end_logits, axis=1)[:, ::-1][:, :k]
    span = top_end[:, None, :] - top_start[:, :, None]  # [n, start, end] tokens - 1
    valid = (
        (offsets[rows, top_start, 0] >= 0)[:, :, None]
        & (offsets[rows, top_end, 0] >= 0)[:, None, :]
        & (span >= 0)
        & (span < max_answer_length)
    )
    score = start_logits[rows, top_start][:, :, None] + end_logits[rows, top_end][:, None, :]
    score = np.where(valid, score, -np.inf).reshape(n, k * k)
    best = score.argmax(axis=1)
    best_score = score[np.arange(n), best]
    best_start = top_start[np.arange(n), best // k]
    best_end = top_end[np.arange(n), best % k]

    winner: dict[int, int] = {}
    for f in range(n):
        e = int(example_of[f])
        if best_score[f] > -np.inf and (e not in winner or best_score[f] > best_score[winner[e]]):
            winner[e] = f
    answers = {}
    for e, example in enumerate(examples):
        w = winner.get(e)
        start, end = (0, 0) if w is None else (offsets[w, best_start[w], 0], offsets[w, best_end[w], 1])
        answers[example.id] = example.context[start:end]
    return answers
