"""robust-xlt: robust fine-tuning for zero-shot cross-lingual transfer.

The text layer (segmentation, lexicons, batched perturbation) runs in the Rust
core; import it from here, never from `robust_xlt._core`.
"""

from robust_xlt._core import (
    Edit,
    FormatError,
    Lexicon,
    Perturbation,
    WordSet,
    core_version,
    known_languages,
    normalize_lang,
)
from robust_xlt.perturbation import StopWords, apply_edits, candidates, load_lexicon, perturb, segment_words
from robust_xlt.stopwords import function_word_languages, stopword_set

__all__ = [
    "Edit",
    "FormatError",
    "Lexicon",
    "Perturbation",
    "StopWords",
    "WordSet",
    "apply_edits",
    "candidates",
    "core_version",
    "function_word_languages",
    "known_languages",
    "load_lexicon",
    "normalize_lang",
    "perturb",
    "segment_words",
    "stopword_set",
]
__version__ = "0.1.0"
