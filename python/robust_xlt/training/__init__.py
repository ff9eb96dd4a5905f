"""Robust fine-tuning for zero-shot cross-lingual transfer.

`train(config)` runs setup, training with the chosen methods, model selection on the
dev set, evaluation of every language (through `robust_xlt.evaluation`) and saving;
`evaluate_saved` scores a saved model. The CLI (`robust-xlt train`, `robust-xlt eval`)
wraps both.
"""

from robust_xlt.training.checkpoint import CheckpointError
from robust_xlt.training.config import METHODS, TASK_DEFAULTS, TASKS, ConfigError, TrainConfig, build_config, load_toml
from robust_xlt.training.loop import RunResult, evaluate_saved, train

__all__ = [
    "METHODS",
    "TASKS",
    "TASK_DEFAULTS",
    "CheckpointError",
    "ConfigError",
    "RunResult",
    "TrainConfig",
    "build_config",
    "evaluate_saved",
    "load_toml",
    "train",
]
