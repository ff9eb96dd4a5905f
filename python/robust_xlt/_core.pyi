# Hand-written stubs of the Rust extension; checked by `python -m mypy.stubtest robust_xlt._core`.
from collections.abc import Sequence
from os import PathLike
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = [
    "Edit",
    "FormatError",
    "Lexicon",
    "Perturbation",
    "QATokenizer",
    "WordSet",
    "align_words",
    "apply_edits",
    "candidates",
    "core_version",
    "known_languages",
    "normalize_lang",
    "perturb",
    "qa_eval_features",
    "qa_train_features",
    "segment_words",
]

class FormatError(ValueError): ...

def core_version() -> str: ...
def normalize_lang(code: str) -> str: ...
def known_languages() -> list[str]: ...

@final
class Lexicon:
    @staticmethod
    def from_files(paths: list[str | PathLike[str]], format: str | None = None) -> Lexicon: ...
    def synonyms(self, word: str, lang: str) -> list[str]: ...
    def translations(self, word: str, src_lang: str, tgt_lang: str) -> list[str]: ...
    def languages(self) -> list[str]: ...
    def word_count(self, lang: str) -> int: ...
    @property
    def skipped_lines(self) -> list[tuple[str, int, str]]: ...
    @property
    def multiword_entries(self) -> int: ...
    def __len__(self) -> int: ...

@final
class WordSet:
    def __new__(cls, words: list[str]) -> WordSet: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...

@final
class Edit:
    @property
    def original_span(self) -> tuple[int, int]: ...
    @property
    def new_span(self) -> tuple[int, int]: ...
    @property
    def original(self) -> str: ...
    @property
    def replacement(self) -> str: ...
    @property
    def lang(self) -> str: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Perturbation:
    @property
    def text(self) -> str: ...
    @property
    def edits(self) -> list[Edit]: ...
    # The original text's words by class; they add up to word_count. From
    # apply_edits only word_count is set (the others are 0).
    @property
    def word_count(self) -> int: ...
    @property
    def stopword_count(self) -> int: ...
    @property
    def protected_count(self) -> int: ...
    @property
    def no_candidate_count(self) -> int: ...
    @property
    def eligible_count(self) -> int: ...
    def map_span(self, start: int, end: int) -> tuple[int, int]: ...
    def map_span_back(self, start: int, end: int) -> tuple[int, int]: ...

def segment_words(
    texts: list[str], lang: str, lexicon: Lexicon | None = None, stopwords: WordSet | None = None
) -> list[list[tuple[int, int]]]: ...
def perturb(
    texts: list[str],
    lang: str,
    lexicon: Lexicon,
    *,
    mode: str,
    rate: float,
    seed: int,
    target_langs: list[str] | None = None,
    protect: list[list[tuple[int, int]]] | None = None,
    max_edits: int | None = None,
    stopwords: WordSet | None = None,
) -> list[Perturbation]: ...
def candidates(
    texts: list[str],
    lang: str,
    lexicon: Lexicon,
    *,
    mode: str,
    target_langs: list[str] | None = None,
    protect: list[list[tuple[int, int]]] | None = None,
    stopwords: WordSet | None = None,
) -> list[list[tuple[int, int, str, list[tuple[str, list[str]]]]]]: ...
def apply_edits(texts: list[str], edits: list[list[tuple[int, int, str, str]]]) -> list[Perturbation]: ...

# ---- adversary bookkeeping ----
# words[e]: example e's words as (slot, start, end); the rest int64 arrays, row_owner
# [rows] and token_slot/start/end [rows, length]. Returns the flat token indices and
# word indices of every (token, word) overlap.
def align_words(
    words: Sequence[Sequence[tuple[int, int, int]]],
    row_owner: npt.NDArray[np.int64],
    token_slot: npt.NDArray[np.int64],
    token_start: npt.NDArray[np.int64],
    token_end: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

# ---- QA features ----
@final
class QATokenizer:
    @staticmethod
    def from_json(json: str) -> QATokenizer: ...
    @property
    def pad_id(self) -> int | None: ...
    @property
    def vocab_size(self) -> int: ...

def qa_train_features(
    tokenizer: QATokenizer | str,
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
    tokenizer: QATokenizer | str,
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
