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
from robust_xlt.adversary.space import ExampleSpace, Span, Substitution, apply, build_space, rebuild
from robust_xlt.adversary.victims import Queries, Victim, victim_for
from robust_xlt.tasks import InputSettings

__all__ = ["attack", "attack_batch", "search"]

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
    settings = settings if settings is not None else InputSettings(max_length=task.defaults.max_length)
    victim = victim_for(task, model, tokenizer, settings, config.query_batch_size, config.search_precision)
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        results: list[ExampleAttack] = []
        for at in range(0, len(examples), config.batch_size):
            chunk = list(examples[at : at + config.batch_size])
            part = None if protect is None else protect[at : at + config.batch_size]
            results.extend(attack_batch(task, victim, chunk, lexicon, config, protect=part).examples)
    finally:
        model.train(was_training)
    return AttackResult(results, summarize(results, time.perf_counter() - start))


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
    start = time.perf_counter()
    spaces = build_space(task, examples, lexicon, config, protect)
    clean = victim.query(examples, embed=config.min_similarity is not None, exact=True)
    live = [i for i in range(len(examples)) if not clean.success[i] and spaces[i].max_changes > 0]
    rankings = [_NO_RANKING] * len(examples)
    if live:
        ranked = rank([spaces[i] for i in live], victim.gradient([examples[i] for i in live]), victim, config.ranking)
        for i, ranking in zip(live, ranked, strict=True):
            rankings[i] = ranking
    results = search(task, victim, examples, spaces, rankings, clean, config)
    summary = summarize(results, time.perf_counter() - start)
    log.info(
        "attack %d | success %.1f%% | changed %.3f | queries %.1f | %.2f s",
        summary.examples,
        summary.success_rate,
        summary.mean_changed_share,
        summary.mean_queries,
        summary.seconds,
    )
    return AttackResult(results, summary)


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
    n = len(examples)
    queries = [1] * n
    beams = [[_State((), frozenset(), float(clean.score[i]), bool(clean.success[i]), _plain(clean.prediction[i]))] for i in range(n)]
    # Already wrong: nothing to attack. No budget: nothing to try.
    done = [bool(clean.success[i]) or spaces[i].max_changes == 0 for i in range(n)]
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
    final = [beams[i][0] for i in range(n)]
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
