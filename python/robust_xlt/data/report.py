"""What a loader did to a file besides copying it: skips, repairs, drops, renames."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

# Event kinds a loader may record. Kinds in ISSUE_KINDS change or remove data and
# are logged as a warning; the others are bookkeeping and logged at info level.
READ = "read"  # data rows (TSV) or questions (QA) seen in the source
KEPT = "kept"  # examples returned
OTHER_LANGUAGE = "other_language"  # rows of another language in a multi-language file
CSV_UNQUOTED = "csv_unquoted"  # CSV-quoted fields restored to their text
LABEL_ALIAS = "label_alias"  # a known spelling variant mapped to the canonical label
UNTRANSLATED_SKIPPED = "untranslated_skipped"  # PAWS-X rows with an `NS` placeholder
UNTRANSLATED_KEPT = "untranslated_kept"  # the same rows when kept on request
ANSWER_REPAIRED = "answer_repaired"  # answer_start moved to where the text occurs
ANSWER_DROPPED = "answer_dropped"  # answer text not found near answer_start
QUESTION_DROPPED = "question_dropped"  # a question left with no usable answer
ID_RENAMED = "id_renamed"  # a duplicated question id made unique

ISSUE_KINDS = frozenset(
    {UNTRANSLATED_SKIPPED, ANSWER_REPAIRED, ANSWER_DROPPED, QUESTION_DROPPED, ID_RENAMED}
)


@dataclass
class LoadReport:
    """Counts of every event while loading one source, with the first few instances.

    Pass a fresh one to a loader (``report=LoadReport()``) to read it afterwards; the
    loader fills in ``source`` and ``lang`` and logs :meth:`summary` either way. A
    report passed to several loads adds their counts up under the last source's name.
    """

    source: str = ""
    lang: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[str]] = field(default_factory=dict)
    # Enough instances to see what went wrong without flooding a log.
    max_samples: int = 5

    def add(self, kind: str, n: int = 1) -> None:
        """Count ``n`` events of ``kind`` with no detail to keep."""
        self.counts[kind] += n

    def note(self, kind: str, detail: str) -> None:
        """Count one event of ``kind`` and keep ``detail`` if it is among the first."""
        self.counts[kind] += 1
        kept = self.samples.setdefault(kind, [])
        if len(kept) < self.max_samples:
            kept.append(detail)

    def has_issues(self) -> bool:
        return any(self.counts[k] for k in ISSUE_KINDS)

    def summary(self) -> str:
        events = ", ".join(
            f"{k} {v}" for k, v in sorted(self.counts.items()) if k not in (READ, KEPT) and v
        )
        head = f"{self.source} [{self.lang}]: read {self.counts[READ]}, kept {self.counts[KEPT]}"
        return f"{head}; {events}" if events else head

    def log(self, logger: logging.Logger) -> None:
        """One summary line, plus the first instance of each issue, at warning level
        when data was changed or removed."""
        if not self.has_issues():
            logger.info("%s", self.summary())
            return
        firsts = "; ".join(
            f"{k}: {self.samples[k][0]}" for k in sorted(ISSUE_KINDS) if self.samples.get(k)
        )
        logger.warning("%s (first of each: %s)", self.summary(), firsts)
