"""Task data: typed examples, per-format loaders, leak-free splits and the smoke sample.

Loaders take the language code and return a list of examples. Anything they
change or drop is counted in a :class:`LoadReport` (pass ``report=`` to read it)
and summarised in one log line; malformed input raises :class:`DataError`
naming the file and the line or JSON path.
"""

from robust_xlt.data.errors import DataError
from robust_xlt.data.examples import (
    PAWSX_LABELS,
    XNLI_LABELS,
    Answer,
    Example,
    PairExample,
    QAExample,
)
from robust_xlt.data.hub import load_hub
from robust_xlt.data.pawsx import load_pawsx
from robust_xlt.data.report import LoadReport
from robust_xlt.data.smoke import SAMPLE_LANGS, sample_path
from robust_xlt.data.splits import (
    Alignment,
    GroupSplit,
    align_ids,
    check_premise_groups,
    check_row_counts,
    passage_groups,
    sentence_groups,
    split_groups,
)
from robust_xlt.data.squad import REPAIR_WINDOW, load_squad
from robust_xlt.data.tasks import TASKS, load_task_file
from robust_xlt.data.xnli import load_xnli

__all__ = [
    "PAWSX_LABELS",
    "REPAIR_WINDOW",
    "SAMPLE_LANGS",
    "TASKS",
    "XNLI_LABELS",
    "Alignment",
    "Answer",
    "DataError",
    "Example",
    "GroupSplit",
    "LoadReport",
    "PairExample",
    "QAExample",
    "align_ids",
    "check_premise_groups",
    "check_row_counts",
    "load_hub",
    "load_pawsx",
    "load_squad",
    "load_task_file",
    "load_xnli",
    "passage_groups",
    "sample_path",
    "sentence_groups",
    "split_groups",
]
