"""robust-xlt: robust fine-tuning for zero-shot cross-lingual transfer."""

from robust_xlt._core import core_version

__all__ = ["core_version"]
__version__ = "0.1.0"
