"""What an attack may do and how hard it searches: one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from robust_xlt.perturbation import Mode, StopWords

Ranking = Literal["gradient", "importance"]


@dataclass(frozen=True)
class AttackConfig:
    # Synonyms and translations both: the project's question is cross-lingual, and a
    # code-mixed word is the substitution a multilingual model is least sure about.
    mode: Mode = "mixed"
    # Languages translations may come from (codeswitch, mixed); None: every language
    # of the lexicon other than the text's. Unused by synonym.
    target_langs: tuple[str, ...] | None = None
    # Share of an example's words (all its texts, as segmentation counts them) that
    # may change: at most floor(budget x words + 1e-9), so changed / words never
    # exceeds it; 0.2 is A2T's and the middle budget. 0 attacks nothing.
    budget: float = 0.2
    # States kept per example between rounds; 1 is greedy.
    beam_width: int = 1
    # Substitutions verified per kept state and round, the best ones left by the
    # ranking: a round's queries are at most 4 x beam x batch. On 64 XNLI pairs (e5-small, budget 0.2) 4 broke as many as 8
    # with two thirds of the queries; 1 and 2 broke fewer.
    per_round: int = 4
    # At most this many candidates of one word per state and round: a round then
    # probes several words, each with its best-ranked candidate, and the word's other
    # candidates wait for later rounds.
    per_word: int = 1
    # Rounds of verification before the search stops with its best states; None: until
    # every example succeeds or runs out of substitutions (`attack`). Online adversarial
    # training caps it to bound a step's cost.
    max_rounds: int | None = None
    # "gradient": each (word, candidate) by its first-order loss change; "importance":
    # words by gradient norm (TextAttack's word-importance order), then candidates in
    # lexicon order.
    ranking: Ranking = "gradient"
    # Cosine between the mean-pooled last hidden states of the changed and the
    # original input, below which a change is refused; None: no constraint (and no
    # hidden states kept, which saves memory).
    min_similarity: float | None = None
    # Stop words are never changed; "function" keeps content words open (stopwords.py).
    stopwords: StopWords = "function"
    # Examples per gradient pass and search: memory grows with it, queries per round too.
    batch_size: int = 64
    # Texts per forward pass (queries, and rows of the gradient pass); None: 16 on a CPU,
    # where e5-small took 29 ms a pair in batches of 8-16 against 51 ms in batches of
    # 128 (cache-bound, one thread), and 256 on an accelerator, which wants wide batches.
    query_batch_size: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.budget <= 1.0:
            raise ValueError(f"budget must be in [0, 1], got {self.budget}")
        for name in ("beam_width", "per_round", "per_word", "batch_size", "query_batch_size", "max_rounds"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.ranking not in ("gradient", "importance"):
            raise ValueError(f"ranking must be 'gradient' or 'importance', got {self.ranking!r}")
        if self.min_similarity is not None and not -1.0 <= self.min_similarity <= 1.0:
            raise ValueError(f"min_similarity must be a cosine in [-1, 1], got {self.min_similarity}")
