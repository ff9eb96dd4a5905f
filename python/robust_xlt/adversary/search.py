"""Greedy and beam search over ranked substitutions, verified by batched queries.

Each example keeps up to ``beam_width`` states (the substitutions made, and those
tried). A round takes, for every state of every unfinished example, the first
``per_round`` untried substitutions in ranking order on words the state has not
changed, at most ``per_word`` per word; builds all the variants of the whole batch
with one ``apply_edits`` call; scores them in batched forward passes; and keeps per
example the best ``beam_width`` of the states and their variants by (success,
score). Ties keep the earlier, parents first, so with width 1 a variant replaces its
state only when strictly better: greedy. A tried substitution is not tried again
from that state or its descendants.

With ``stack`` a round has a second, smaller query pass: each state whose round
found two or more substitutions that beat it also verifies all of them made together
(best first, on distinct words, within the budget), and that joint state competes
with the single ones. First-order estimates add up over distinct words, so the
changes that each help usually help together; a round can then add several changes,
as TextAttack's greedy walk over the words does, instead of one.

An example stops when a kept state succeeds (its prediction flips), or when no state
can grow: each has made ``max_changes`` substitutions or tried all it may; the whole
search stops after ``max_rounds`` rounds when that is set.

A greedy search without stacking (the defaults) serves several budgets at once: until
an example has made a smaller budget's number of changes, its walk is the same at
every larger budget, so ``attack_budgets`` searches once at the largest budget and
reads each smaller one's result (state and queries) where that budget's search would
have stopped: at a success, at its limit of changes, or where no change was left to
try. A beam or stacked search, whose rounds depend on the limit, searches each budget
on its own.

The search's own passes may run in bf16 (``precision``); the clean query and a
last query of every attacked example's final text run in fp32, and those decide the
reported scores and successes.

Cost per batch: one clean query pass, one gradient pass over the examples the model
has right (the only ones attacked), then per round at most
batch x beam_width x (per_round + 1) verified texts, and with bf16 one fp32 pass over
the changed examples. On a CPU a forward pass costs about the same per text at any
batch size, so there the saving is in queries (the first-order order finds flips in
few) and in bf16 arithmetic; on an accelerator the batching saves too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from robust_xlt._core import Lexicon
from robust_xlt.adversary.config import AttackConfig
from robust_xlt.adversary.ranking import ExampleRanking, rank
from robust_xlt.adversary.results import AttackResult, ExampleAttack, summarize
from robust_xlt.adversary.space import ExampleSpace, Span, Substitution, apply, build_space, max_changes, rebuild
from robust_xlt.adversary.victims import Queries, Victim, victim_for
from robust_xlt.tasks import InputSettings

__all__ = ["attack", "attack_batch", "attack_budgets", "search", "search_budgets", "shares_search"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _State:
    chosen: tuple[int, ...]  # substitution indices, in the order made
    tried: frozenset[int]  # substitutions verified from this state or its ancestors
    score: float
    success: bool
    prediction: Any


def attack(
    task: Any,
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    lexicon: Lexicon,
    config: AttackConfig = AttackConfig(),
    *,
    settings: InputSettings | None = None,
    protect: Sequence[Sequence[Sequence[Span]]] | None = None,
) -> AttackResult:
    """Attacks ``examples`` in batches of ``config.batch_size`` (module docstring).

    ``settings``: how examples become model inputs (max length, QA windows); None:
    the task's XTREME max length. ``protect``: per example and text (the task's
    texts: text_a, text_b for pairs; question, context for QA), code-point spans that
    must not change, besides the task's own (QA answers). The model is put in eval
    mode and given back in the mode it was in; its parameter gradients are not
    touched."""
    return attack_budgets(task, model, tokenizer, examples, lexicon, (config.budget,), config, settings=settings, protect=protect)[config.budget]


def attack_budgets(
    task: Any,
    model: Any,
    tokenizer: Any,
    examples: Sequence[Any],
    lexicon: Lexicon,
    budgets: Sequence[float],
    config: AttackConfig = AttackConfig(),
    *,
    settings: InputSettings | None = None,
    protect: Sequence[Sequence[Sequence[Span]]] | None = None,
) -> dict[float, AttackResult]:
    """``attack`` at each of ``budgets`` (``config.budget`` is ignored): one search for
    them all where ``shares_search(config)``, else one per budget (module docstring).
    A shared search's seconds are those of the whole search, at every budget."""
    if not budgets:
        raise ValueError("no budgets to attack")
    settings = settings if settings is not None else InputSettings(max_length=task.defaults.max_length)
    victim = victim_for(task, model, tokenizer, settings, config.query_batch_size, config.search_precision)
    groups = [sorted(set(budgets))] if shares_search(config) else [[b] for b in dict.fromkeys(budgets)]
    was_training = model.training
    model.eval()
    out: dict[float, AttackResult] = {}
    try:
        for group in groups:
            start = time.perf_counter()
            largest = replace(config, budget=group[-1])  # searched; the others read off it
            results: dict[float, list[ExampleAttack]] = {b: [] for b in group}
            for at in range(0, len(examples), config.batch_size):
                chunk = list(examples[at : at + config.batch_size])
                part = None if protect is None else protect[at : at + config.batch_size]
                found = _attack_batch(task, victim, chunk, lexicon, largest, group[:-1], part)
                for b in group:
                    results[b].extend(found[b].examples)
            seconds = time.perf_counter() - start
            out.update({b: AttackResult(results[b], summarize(results[b], seconds)) for b in group})
    finally:
        model.train(was_training)
    return {b: out[b] for b in budgets}


def shares_search(config: AttackConfig) -> bool:
    """Whether one search serves every budget (module docstring): greedy, unstacked."""
    return config.beam_width == 1 and not config.stack


def attack_batch(
    task: Any,
    victim: Victim,
    examples: Sequence[Any],
    lexicon: Lexicon,
    config: AttackConfig,
    *,
    protect: Sequence[Sequence[Sequence[Span]]] | None = None,
) -> AttackResult:
    """One batch: its search space, a clean query, one gradient pass over the examples
    the model has right (the others are not attacked), the search. The model's mode is
    the caller's."""
    return _attack_batch(task, victim, examples, lexicon, config, (), protect)[config.budget]


def _attack_batch(
    task: Any,
    victim: Victim,
    examples: Sequence[Any],
    lexicon: Lexicon,
    config: AttackConfig,
    lower: Sequence[float],
    protect: Sequence[Sequence[Sequence[Span]]] | None,
) -> dict[float, AttackResult]:
    """``attack_batch`` at ``config.budget`` and, read off the same search, at each of
    the ``lower`` budgets (smaller, ascending)."""
    start = time.perf_counter()
    spaces = build_space(task, examples, lexicon, config, protect)
    clean = victim.query(examples, embed=config.min_similarity is not None, exact=True)
    live = [i for i in range(len(examples)) if not clean.success[i] and spaces[i].max_changes > 0]
    rankings = [_NO_RANKING] * len(examples)
    if live:
        ranked = rank([spaces[i] for i in live], victim.gradient([examples[i] for i in live]), victim, config.ranking)
        for i, ranking in zip(live, ranked, strict=True):
            rankings[i] = ranking
    found = search_budgets(task, victim, examples, spaces, rankings, clean, config, lower)
    out = {}
    for budget, results in zip((*lower, config.budget), found, strict=True):
        summary = summarize(results, time.perf_counter() - start)
        log.info(
            "attack %d at budget %g | success %.1f%% | changed %.3f | queries %.1f | %.2f s",
            summary.examples,
            budget,
            summary.success_rate,
            summary.mean_changed_share,
            summary.mean_queries,
            summary.seconds,
        )
        out[budget] = AttackResult(results, summary)
    return out


_NO_RANKING = ExampleRanking((), np.zeros(0), np.zeros(0))


def search(
    task: Any,
    victim: Victim,
    examples: Sequence[Any],
    spaces: Sequence[ExampleSpace],
    rankings: Sequence[ExampleRanking],
    clean: Queries,
    config: AttackConfig,
) -> list[ExampleAttack]:
    """The search of the module docstring, from given spaces, rankings and the clean
    queries of the examples (with embeddings when ``config.min_similarity`` is set)."""
    return search_budgets(task, victim, examples, spaces, rankings, clean, config, ())[0]


def search_budgets(
    task: Any,
    victim: Victim,
    examples: Sequence[Any],
    spaces: Sequence[ExampleSpace],
    rankings: Sequence[ExampleRanking],
    clean: Queries,
    config: AttackConfig,
    lower: Sequence[float],
) -> list[list[ExampleAttack]]:
    """``search`` at the spaces' budget, and the results the same search gives at each
    of the ``lower`` budgets (smaller than ``config.budget``, ascending), in that order:
    the lower budgets' first, the spaces' own last (module docstring)."""
    if list(lower) != sorted(set(lower)) or any(b >= config.budget for b in lower):
        raise ValueError(f"lower budgets must be distinct, ascending and below {config.budget:g}, got {list(lower)}")
    if lower and not shares_search(config):
        raise ValueError("a beam or stacked search depends on its budget: search each budget on its own")
    n = len(examples)
    queries = [1] * n
    beams = [[_State((), frozenset(), float(clean.score[i]), bool(clean.success[i]), _plain(clean.prediction[i]))] for i in range(n)]
    # Already wrong: nothing to attack. No budget: nothing to try.
    done = [bool(clean.success[i]) or spaces[i].max_changes == 0 for i in range(n)]
    # Per lower budget, its spaces (its own limits) and, per example, the state and
    # queries where that budget's search stops: done, succeeded, or at its limit.
    lower_spaces = [[replace(space, max_changes=max_changes(b, space.words)) for space in spaces] for b in lower]
    held: list[list[tuple[_State, int] | None]] = [[None] * n for _ in lower]

    def hold(i: int) -> None:
        state = beams[i][0]
        for k, limited in enumerate(lower_spaces):
            if held[k][i] is None and (done[i] or state.success or len(state.chosen) >= limited[i].max_changes):
                held[k][i] = (state, queries[i])

    for i in range(n):
        hold(i)
    rounds = 0
    while config.max_rounds is None or rounds < config.max_rounds:
        rounds += 1
        parents: dict[int, list[_State]] = {}
        proposals: list[tuple[int, int, _State, tuple[int, ...]]] = []  # example, parent, parent state, substitutions added
        for i in range(n):
            if done[i]:
                continue
            parents[i] = []
            before = len(proposals)
            for p, state in enumerate(beams[i]):
                advanced, taken = _next(state, spaces[i], rankings[i], config.per_round, config.per_word)
                parents[i].append(advanced)
                proposals.extend((i, p, advanced, (c,)) for c in taken)
            done[i] = len(proposals) == before
            hold(i)
        if not proposals:
            break
        children = _verify(task, victim, examples, spaces, clean, config, proposals, queries)
        if config.stack:
            stacks = _stacks(spaces, parents, children)
            if stacks:
                for i, kids in _verify(task, victim, examples, spaces, clean, config, stacks, queries).items():
                    # A joint state that spends the whole budget without success would
                    # end the search there; the single changes keep room to look on.
                    room = spaces[i].max_changes
                    children.setdefault(i, []).extend((p, kid) for p, kid in kids if kid.success or len(kid.chosen) < room)
        for i, kept in parents.items():
            if done[i]:
                continue
            beams[i] = _best(kept + [child for _, child in children.get(i, [])], config.beam_width)
            done[i] = beams[i][0].success
            hold(i)
    # Out of rounds: every budget stops where the search did.
    final = [(beams[i][0], queries[i]) for i in range(n)]
    out = [_results(task, victim, examples, limited, clean, [h if h is not None else f for h, f in zip(kept, final)]) for limited, kept in zip(lower_spaces, held)]
    return [*out, _results(task, victim, examples, spaces, clean, final)]


def _results(
    task: Any, victim: Victim, examples: Sequence[Any], spaces: Sequence[ExampleSpace], clean: Queries, stopped: Sequence[tuple[_State, int]]
) -> list[ExampleAttack]:
    """The attack records of the states a search stopped at (with their queries so
    far): the adversarial examples, checked in fp32 when the search ran in bf16."""
    n = len(examples)
    final = [state for state, _ in stopped]
    queries = [q for _, q in stopped]
    subs = [[spaces[i].substitutions[k] for k in state.chosen] for i, state in enumerate(final)]
    perturbed = apply(spaces, subs)
    adversarial = rebuild(task, examples, perturbed)
    if victim.search_dtype is not None:
        final = _checked(victim, adversarial, final, queries)
    return [
        ExampleAttack(
            id=str(getattr(examples[i], "id", i)),
            example=adversarial[i],
            texts=tuple(p.text for p in perturbed[i]),
            edits=tuple(subs[i]),
            words=spaces[i].words,
            max_changes=spaces[i].max_changes,
            queries=queries[i],
            skipped=bool(clean.success[i]),
            success=final[i].success and not bool(clean.success[i]),
            score_before=float(clean.score[i]),
            score_after=final[i].score,
            prediction_before=_plain(clean.prediction[i]),
            prediction_after=final[i].prediction,
        )
        for i in range(n)
    ]


def _verify(
    task: Any,
    victim: Victim,
    examples: Sequence[Any],
    spaces: Sequence[ExampleSpace],
    clean: Queries,
    config: AttackConfig,
    proposals: Sequence[tuple[int, int, _State, tuple[int, ...]]],
    queries: list[int],
) -> dict[int, list[tuple[int, _State]]]:
    """Scores each proposal (a parent state plus substitutions) in one batched query
    pass; per example, (parent index, child state) of those the similarity
    constraint lets through. Counts a query per proposal."""
    embed = config.min_similarity is not None
    chosen = [[spaces[i].substitutions[k] for k in (*parent.chosen, *added)] for i, _, parent, added in proposals]
    owners = [i for i, _, _, _ in proposals]
    variants = rebuild(task, [examples[i] for i in owners], apply([spaces[i] for i in owners], chosen))
    found = victim.query(variants, embed=embed)
    children: dict[int, list[tuple[int, _State]]] = {}
    for j, (i, p, parent, added) in enumerate(proposals):
        queries[i] += 1
        if embed and float(found.embedding[j] @ clean.embedding[i]) < config.min_similarity:  # type: ignore[index, operator]
            continue
        child = _State((*parent.chosen, *added), parent.tried, float(found.score[j]), bool(found.success[j]), _plain(found.prediction[j]))
        children.setdefault(i, []).append((p, child))
    return children


def _stacks(
    spaces: Sequence[ExampleSpace],
    parents: dict[int, list[_State]],
    children: dict[int, list[tuple[int, _State]]],
) -> list[tuple[int, int, _State, tuple[int, ...]]]:
    """Per parent state whose round found no success but two or more children that
    beat it: the parent with those children's substitutions made together, best child
    first, skipping one that overlaps a word already changed, up to the budget."""
    out = []
    for i, kids in children.items():
        if any(child.success for _, child in kids):
            continue  # this example is done: nothing to stack
        for p, parent in enumerate(parents[i]):
            better = sorted((child for q, child in kids if q == p and child.score > parent.score), key=lambda c: -c.score)
            if len(better) < 2:
                continue
            space = spaces[i]
            room = space.max_changes - len(parent.chosen)
            made = [space.substitutions[k] for k in parent.chosen]
            added: list[int] = []
            for child in better:
                if len(added) == room:
                    break
                c = child.chosen[-1]
                s = space.substitutions[c]
                if _overlaps(s, made):
                    continue
                made.append(s)
                added.append(c)
            if len(added) >= 2:
                out.append((i, p, parent, tuple(added)))
    return out


def _checked(victim: Victim, adversarial: Sequence[Any], final: Sequence[_State], queries: list[int]) -> list[_State]:
    """The final states re-scored in fp32 (one exact query pass over the examples
    that changed), so reported scores and successes do not depend on the search's
    bf16 arithmetic. A bf16 success that fp32 does not confirm is reported as failed."""
    changed = [i for i, state in enumerate(final) if state.chosen]
    if not changed:
        return list(final)
    exact = victim.query([adversarial[i] for i in changed], embed=False, exact=True)
    out = list(final)
    lost = 0
    for j, i in enumerate(changed):
        queries[i] += 1
        success = bool(exact.success[j])
        lost += final[i].success and not success
        out[i] = replace(final[i], score=float(exact.score[j]), success=success, prediction=_plain(exact.prediction[j]))
    if lost:
        log.info("attack: %d of %d successes of the bf16 search did not hold in fp32 (reported as failed)", lost, len(changed))
    return out


def _next(state: _State, space: ExampleSpace, ranking: ExampleRanking, per_round: int, per_word: int) -> tuple[_State, list[int]]:
    """The substitutions a state verifies this round, and the state marked as having
    tried them: in ranking order, the first ``per_round`` not yet tried, on words the
    state has not changed, at most ``per_word`` of each word."""
    if len(state.chosen) >= space.max_changes:
        return state, []
    subs = space.substitutions
    made = [subs[k] for k in state.chosen]
    taken: list[int] = []
    per: dict[tuple[int, int], int] = {}
    for c in ranking.order:
        if len(taken) == per_round:
            break
        s = subs[c]
        word = (s.slot, s.start)
        if c in state.tried or per.get(word, 0) >= per_word:
            continue
        if _overlaps(s, made):
            continue
        per[word] = per.get(word, 0) + 1
        taken.append(c)
    return replace(state, tried=state.tried | frozenset(taken)), taken


def _overlaps(sub: Substitution, made: Sequence[Substitution]) -> bool:
    """Whether ``sub`` touches a word one of ``made`` already changed."""
    return any(m.slot == sub.slot and m.start < sub.end and sub.start < m.end for m in made)


def _best(pool: list[_State], width: int) -> list[_State]:
    """The ``width`` best distinct states by (success, score); stable, so ties keep the earlier."""
    ranked = sorted(pool, key=lambda s: (not s.success, -s.score))
    seen: set[frozenset[int]] = set()
    out = []
    for state in ranked:
        key = frozenset(state.chosen)
        if key in seen:
            continue
        seen.add(key)
        out.append(state)
        if len(out) == width:
            break
    return out


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
