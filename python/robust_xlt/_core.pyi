"""Type stubs of the compiled core (checked with `python -m mypy.stubtest robust_xlt._core`)."""

import numpy as np
import numpy.typing as npt

# The QA entries are listed between the markers so the merge keeps them.
__all__ = [
    "core_version",
    # ---- QA features ----
    "qa_train_features",
    "qa_eval_features",
    # ---- end QA features ----
]

def core_version() -> str: ...

# ---- QA features ----
def qa_train_features(
    tokenizer_json: str,
    questions: list[str],
    contexts: list[str],
    answers: list[tuple[int, int] | None],
    *,
    max_length: int = 384,
    stride: int = 128,
    max_query_length: int = 64,
    pad_id: int | None = None,
    parallel: bool = True,
) -> dict[str, npt.NDArray[np.int64]]: ...
def qa_eval_features(
    tokenizer_json: str,
    questions: list[str],
    contexts: list[str],
    *,
    max_length: int = 384,
    stride: int = 128,
    max_query_length: int = 64,
    pad_id: int | None = None,
    parallel: bool = True,
) -> dict[str, npt.NDArray[np.int64] | npt.NDArray[np.int32]]: ...

# ---- end QA features ----
