"""A searching word-substitution adversary over the Rust core's candidates.

Candidates (synonyms, translations for code-mixing, or both) come from the core with
stop words and protected spans left alone; one gradient pass per batch ranks every
substitution by its first-order loss change (or words by gradient norm); a greedy or
beam search verifies the ranked substitutions with batched model queries under a
budget of changed words, optionally keeping the input's sentence embedding close.

    result = attack(get_task("xnli"), model, tokenizer, examples, lexicon, AttackConfig(budget=0.2))
    result.summary.success_rate, [r.example for r in result.examples]
"""

from robust_xlt.adversary.config import AttackConfig, Ranking
from robust_xlt.adversary.ranking import ExampleRanking, rank
from robust_xlt.adversary.results import AttackResult, AttackSummary, ExampleAttack, summarize
from robust_xlt.adversary.search import attack, attack_batch, attack_budgets, search, search_budgets, shares_search
from robust_xlt.adversary.space import ExampleSpace, Substitution, build_space, max_changes, rebuild, slots_of
from robust_xlt.adversary.victims import GradientPass, PairVictim, Queries, Victim, victim_for

__all__ = [
    "AttackConfig",
    "AttackResult",
    "AttackSummary",
    "ExampleAttack",
    "ExampleRanking",
    "ExampleSpace",
    "GradientPass",
    "PairVictim",
    "Queries",
    "Ranking",
    "Substitution",
    "Victim",
    "attack",
    "attack_batch",
    "attack_budgets",
    "build_space",
    "max_changes",
    "rank",
    "rebuild",
    "search",
    "search_budgets",
    "shares_search",
    "slots_of",
    "summarize",
    "victim_for",
]
