"""What an attack returns: one record per example and a summary per batch or run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from robust_xlt.adversary.space import Substitution

__all__ = ["AttackResult", "AttackSummary", "ExampleAttack", "summarize"]


@dataclass(frozen=True)
class ExampleAttack:
    id: str
    # The adversarial example (the original when nothing changed), rebuilt by the task.
    example: Any
    texts: tuple[str, ...]
    # In the order the search made them; offsets are into the original texts.
    edits: tuple[Substitution, ...]
    words: int
    max_changes: int
    # Texts the model scored for this example, the clean one included; the gradient
    # pass (one per batch) is not counted.
    queries: int
    # The model was wrong before any change: not attacked, and not a success.
    skipped: bool
    success: bool
    score_before: float
    score_after: float
    prediction_before: Any
    prediction_after: Any

    @property
    def changed(self) -> int:
        return len(self.edits)

    @property
    def changed_share(self) -> float:
        return self.changed / self.words if self.words else 0.0

    def record(self) -> dict[str, Any]:
        """A JSON-ready record (the example itself left out: its texts are in)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("example", "edits")}
        out["edits"] = [asdict(e) for e in self.edits]
        out["changed"] = self.changed
        return out


@dataclass(frozen=True)
class AttackSummary:
    examples: int
    # Examples the model had right, which the attack tries to break.
    attacked: int
    successes: int
    # Percentages: correct before and after the attack (over all examples), and the
    # attacked examples the attack broke.
    accuracy_before: float
    accuracy_after: float
    success_rate: float
    # Means over the attacked examples: share of words changed, texts scored.
    mean_changed_share: float
    mean_queries: float
    seconds: float


@dataclass(frozen=True)
class AttackResult:
    examples: list[ExampleAttack]
    summary: AttackSummary


def summarize(results: Sequence[ExampleAttack], seconds: float) -> AttackSummary:
    n = len(results)
    attacked = [r for r in results if not r.skipped]
    successes = sum(r.success for r in attacked)
    pct = lambda k, d: 100.0 * k / d if d else 0.0  # noqa: E731
    return AttackSummary(
        examples=n,
        attacked=len(attacked),
        successes=successes,
        accuracy_before=pct(len(attacked), n),
        accuracy_after=pct(len(attacked) - successes, n),
        success_rate=pct(successes, len(attacked)),
        mean_changed_share=sum(r.changed_share for r in attacked) / len(attacked) if attacked else 0.0,
        mean_queries=sum(r.queries for r in attacked) / len(attacked) if attacked else 0.0,
        seconds=seconds,
    )
