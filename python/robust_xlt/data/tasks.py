"""One entry point that reads a task file by task name."""

from __future__ import annotations

from os import PathLike
from typing import Any, Literal, overload

from robust_xlt.data.examples import PairExample, QAExample
from robust_xlt.data.pawsx import load_pawsx
from robust_xlt.data.squad import load_squad
from robust_xlt.data.xnli import load_xnli

# "qa" covers every SQuAD-format set: TyDiQA-GoldP, XQuAD, MLQA, SQuAD v1.1.
TASKS: tuple[str, ...] = ("pawsx", "xnli", "qa")


@overload
def load_task_file(
    task: Literal["pawsx", "xnli"], path: str | PathLike[str], lang: str, **options: Any
) -> list[PairExample]: ...


@overload
def load_task_file(
    task: Literal["qa"], path: str | PathLike[str], lang: str, **options: Any
) -> list[QAExample]: ...


@overload
def load_task_file(
    task: str, path: str | PathLike[str], lang: str, **options: Any
) -> list[PairExample] | list[QAExample]: ...


def load_task_file(
    task: str, path: str | PathLike[str], lang: str, **options: Any
) -> list[PairExample] | list[QAExample]:
    """Read ``path`` as a ``task`` file of language ``lang``.

    ``options`` go to the task's loader (``layout=``, ``report=``, ...): see
    :func:`load_pawsx`, :func:`load_xnli`, :func:`load_squad`.
    Raises ValueError naming an unknown task.
    """
    if task == "pawsx":
        return load_pawsx(path, lang, **options)
    if task == "xnli":
        return load_xnli(path, lang, **options)
    if task == "qa":
        return load_squad(path, lang, **options)
    raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
