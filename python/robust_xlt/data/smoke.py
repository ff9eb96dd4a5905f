"""The hand-written smoke sample shipped inside the package (``data/sample/``).

It exists so that a training run works with no data flags; it is not benchmark
data and its scores mean nothing. See ``sample/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from robust_xlt.data.tasks import TASKS

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_SPLITS: tuple[str, ...] = ("train", "dev")
SAMPLE_TRAIN_LANG = "en"
# Evaluation languages; sw stands in for a low-resource language.
SAMPLE_LANGS: tuple[str, ...] = ("en", "de", "zh", "sw")


def sample_path(task: str, split: str, lang: str) -> Path:
    """The sample file holding ``task``'s ``split`` in ``lang``; load it with ``load_task_file``.

    Training data exists in English only. The XNLI dev file holds every sample
    language (the loader picks ``lang``'s rows), as the official XNLI files do.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    if split not in SAMPLE_SPLITS:
        raise ValueError(
            f"the smoke sample has no split {split!r}; it has {', '.join(SAMPLE_SPLITS)}"
        )
    allowed = (SAMPLE_TRAIN_LANG,) if split == "train" else SAMPLE_LANGS
    if lang not in allowed:
        raise ValueError(
            f"the smoke sample's {split} split has no language {lang!r}; "
            f"it has {', '.join(allowed)}"
        )
    if task == "pawsx":
        return SAMPLE_DIR / "pawsx" / lang / f"{split}.tsv"
    if task == "xnli":
        return SAMPLE_DIR / "xnli" / f"{split}.tsv"
    return SAMPLE_DIR / "qa" / f"{split}-{lang}.json"
