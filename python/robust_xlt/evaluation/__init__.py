"""Per-language evaluation: scores and per-example predictions of a model on each
language's examples, the summaries a run reports, and the prediction files; and the
same under attack, per language and budget (:mod:`robust_xlt.evaluation.attack`).

Evaluation is a plain forward pass (no noise, no augmentation), as Robust-XLT's test
time is; the model is left in the mode it was in. Scores are percentages. Each
evaluated language also yields one record per example (see
:mod:`robust_xlt.evaluation.predictions`), from which every reported number can be
recomputed and methods can be compared example by example.
"""

from robust_xlt.evaluation.attack import (
    ATTACK_JSON,
    ATTACK_MD,
    DEFAULT_BUDGETS,
    attack_languages,
    attack_records_path,
    attack_table,
    check_attack_output,
    lexicon_coverage,
    write_attack,
)
from robust_xlt.evaluation.evaluate import evaluate, evaluate_languages
from robust_xlt.evaluation.generalized import evaluate_generalized, generalized_sets, matrix_table
from robust_xlt.evaluation.predictions import predictions_path, read_predictions, read_records, write_predictions
from robust_xlt.evaluation.summary import METRIC_TITLES, best_dev_records, markdown_table, oracle_selection, summarize

__all__ = [
    "ATTACK_JSON",
    "ATTACK_MD",
    "DEFAULT_BUDGETS",
    "METRIC_TITLES",
    "attack_languages",
    "attack_records_path",
    "attack_table",
    "check_attack_output",
    "evaluate",
    "evaluate_generalized",
    "evaluate_languages",
    "generalized_sets",
    "lexicon_coverage",
    "markdown_table",
    "matrix_table",
    "best_dev_records",
    "oracle_selection",
    "predictions_path",
    "read_predictions",
    "read_records",
    "summarize",
    "write_attack",
    "write_predictions",
]
