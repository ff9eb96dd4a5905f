"""One record per task kind: what differs between sentence-pair classification
(PAWS-X, XNLI) and extractive QA (TyDiQA-GoldP, XQuAD, MLQA, SQuAD), chosen once.

A consumer (the training loop, evaluation, an attack, a grid runner) looks a task up
with :func:`get_task` and calls its record; it never branches on the task's name. The
record holds: the XTREME defaults and language sets, the model head, how examples
become a training batch, the loss (QA masks padding out of its softmax), how a
language is predicted and scored (with one record per example), and how a batch's
texts are rewritten by a text method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from robust_xlt.data import TASKS as TASK_NAMES
from robust_xlt.data import Example, PairExample, QAExample
from robust_xlt.data import load_task_file as _load_task_file
from robust_xlt.tasks import extractive_qa, pair_classification
from robust_xlt.tasks.batches import Batch, InputSettings, to_device, trim_padding

__all__ = [
    "TASKS",
    "Batch",
    "InputSettings",
    "Mixing",
    "Predictions",
    "Task",
    "TaskDefaults",
    "get_task",
    "to_device",
    "trim_padding",
]

# (scores, one record per example in input order) of one language.
Predictions = tuple[dict[str, float], list[dict[str, Any]]]
# (texts, protected spans per text or None) -> (new texts, the spans mapped onto them)
RewriteFn = Callable[[list[str], "list[list[tuple[int, int]]] | None"], "tuple[list[str], list[list[tuple[int, int]]] | None]"]


@dataclass(frozen=True)
class TaskDefaults:
    """What XTREME's own scripts use for a task, and its language sets."""

    lr: float
    epochs: int
    max_length: int
    languages: tuple[str, ...]
    low_resource: tuple[str, ...]


@dataclass(frozen=True)
class Mixing:
    """How one example is made of two languages' copies of it, for the generalized
    setting (:mod:`robust_xlt.evaluation.generalized`): ``build(first, second, lang)``
    takes ``first_part`` from the first language's copy and ``second_part`` from the
    second's, and raises ValueError when the copies cannot be translations of each
    other. The parts name the matrix's rows and columns in reports."""

    first_part: str
    second_part: str
    build: Callable[[Any, Any, str], Any]


@dataclass(frozen=True)
class Task:
    name: str
    # transformers head: "classification" (num_labels classes) or "qa" (start/end logits).
    head: str
    num_labels: int | None
    example_type: type
    # Metrics reported per language, the one models are selected on, and the metric
    # records of one example carry (QA: the same names, in [0, 1]).
    metrics: tuple[str, ...]
    selection_metric: str
    defaults: TaskDefaults
    # Rows of the task's multilingual files are translations of each other (PAWS-X,
    # XNLI), so splits are made once for all languages; QA sets are not aligned.
    row_aligned: bool
    # XTREME-layout files whose consecutive rows come in groups of this many hypotheses
    # of one premise (XNLI: 3), which a cut or reordered file breaks; None: no such shape.
    premise_group: int | None
    train_batch: Callable[[Any, Sequence[Any], InputSettings], Batch]
    # (tokenizer, examples, settings, where) -> None; ValueError naming the example's id
    # and ``where`` for an input the model cannot read, before any training.
    check_inputs: Callable[[Any, Sequence[Any], InputSettings, str], None]
    loss: Callable[[Any, Batch], torch.Tensor]
    # (outputs, batch) -> (rows predicted wrong, rows) of a training pass.
    errors: Callable[[Any, Batch], tuple[int, int]]
    predict: Callable[[Any, Any, Sequence[Any], InputSettings, torch.device], Predictions]
    rewrite: Callable[[Sequence[Any], RewriteFn], list[Any]]
    # The generalized setting's mixed example; None: the task has none.
    mixing: Mixing | None

    def load_file(self, path: str | Path, lang: str, **options: Any) -> list[Example]:
        return list(_load_task_file(self.name, path, lang, **options))

    def load_model(self, name_or_path: str) -> tuple[Any, Any]:
        """(model, tokenizer): a fresh head on a pretrained encoder, or a saved model."""
        from robust_xlt.models import load_model

        return load_model(name_or_path, self.head, num_labels=self.num_labels)

    def load_weights(self, folder: str | Path) -> Any:
        """The model saved in ``folder``, without its tokenizer."""
        from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

        auto = AutoModelForQuestionAnswering if self.head == "qa" else AutoModelForSequenceClassification
        return auto.from_pretrained(str(folder))

    def examples(self, examples: Sequence[Example]) -> list[Any]:
        """``examples`` checked to be this task's kind (a mixed list is a bug upstream)."""
        wrong = next((ex for ex in examples if not isinstance(ex, self.example_type)), None)
        if wrong is not None:
            raise TypeError(f"task {self.name} takes {self.example_type.__name__}s, got {type(wrong).__name__} {wrong.id!r}")
        return list(examples)


_PAIR = dict(
    head="classification",
    example_type=PairExample,
    metrics=pair_classification.METRICS,
    selection_metric="accuracy",
    row_aligned=True,
    train_batch=pair_classification.train_batch,
    check_inputs=pair_classification.check_inputs,
    loss=pair_classification.loss,
    errors=pair_classification.errors,
    predict=pair_classification.predict,
    rewrite=pair_classification.rewrite,
    mixing=Mixing("first sentence", "second sentence", pair_classification.mix),
)

TASKS: dict[str, Task] = {
    # scripts/train_pawsx.sh: lr 2e-5, 5 epochs, max length 128, batch 8 x 4 accumulation.
    # PAWS-X has no low-resource language; ja and ko, the two languages furthest from
    # English in script and syntax and the lowest zero-shot scores in XTREME's tables,
    # stand in for the "hardest targets" average.
    "pawsx": Task(
        name="pawsx",
        num_labels=2,
        premise_group=None,
        defaults=TaskDefaults(2e-5, 5, 128, ("en", "de", "es", "fr", "ja", "ko", "zh"), ("ja", "ko")),
        **_PAIR,  # type: ignore[arg-type]
    ),
    # scripts/train_xnli.sh: the same settings; sw and ur are XNLI's low-resource languages.
    "xnli": Task(
        name="xnli",
        num_labels=3,
        premise_group=3,
        defaults=TaskDefaults(
            2e-5,
            5,
            128,
            ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"),
            ("sw", "ur"),
        ),
        **_PAIR,  # type: ignore[arg-type]
    ),
    # Any SQuAD-format set. TyDiQA-GoldP: lr 3e-5, 3 epochs, max length 384; sw, te, bn
    # are its low-resource languages. F1 is what XTREME reports first, and smoother
    # than EM on small dev sets.
    "qa": Task(
        name="qa",
        head="qa",
        num_labels=None,
        example_type=QAExample,
        metrics=extractive_qa.METRICS,
        selection_metric="f1",
        defaults=TaskDefaults(3e-5, 3, 384, ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"), ("sw", "te", "bn")),
        row_aligned=False,
        premise_group=None,
        train_batch=extractive_qa.train_batch,
        check_inputs=extractive_qa.check_inputs,
        loss=extractive_qa.loss,
        errors=extractive_qa.errors,
        predict=extractive_qa.predict,
        rewrite=extractive_qa.rewrite,
        # MLQA's G-XLT: parallel files (MLQA, XQuAD) share question ids across languages.
        mixing=Mixing("question", "context and answers", extractive_qa.mix),
    ),
}
assert tuple(TASKS) == TASK_NAMES, "the task records and the data layer's task names must agree"


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
