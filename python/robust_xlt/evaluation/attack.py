"""Robustness per language and budget: the searching adversary run on each evaluated
language at each budget, the task's scores on what it leaves, and the files that
report it (``robust-xlt attack``).

Each language's examples are attacked in their own language: synonyms come from the
lexicon's entries of that language, translations (code-mixing) out of it into the
others, so a Swahili row is perturbed with Swahili synonyms and Swahili-to-X
translations, where the lexicon has them. How much of each language the lexicon
reaches is measured on the same examples (``coverage``).

Per (language, budget):

- the task's metrics under attack (accuracy; QA: F1, EM and their language-aware
  forms), by ``evaluate`` on the adversarial examples: at budget 0 nothing changes,
  so the numbers are ``robust-xlt eval``'s;
- the attack success rate, over the examples the model had right before the attack
  (QA: any token overlap with a gold answer); those it had wrong are not attacked;
- the mean (and largest) share of words changed and the mean queries, over the
  attacked examples, as :class:`robust_xlt.adversary.AttackSummary` counts them;
- a few adversarial texts, successes first.

Files, beside each other in the output folder:

- ``attack.json``: ``command`` ("attack"), run info, ``metrics``, ``budgets``,
  ``attack`` (the adversary's settings), ``languages[lang]`` with ``coverage`` and
  ``budgets["0.2"]`` = {the metrics, ``count``, ``attacked``, ``successes``,
  ``success_rate``, ``mean_changed_share``, ``max_changed_share``, ``mean_queries``,
  ``total_queries``, ``seconds``, ``samples``}, and ``average[budget]`` over languages;
- ``attack.md``: one markdown table per quantity (rows language, columns budget), the
  coverage table and the samples;
- ``attack-{lang}.jsonl``: one record per (budget, example), budgets in order: ``id``,
  ``lang``, ``budget``, ``success``, ``skipped`` (wrong before the attack),
  ``changed``, ``words``, ``max_changes``, ``changed_share``, ``queries``, ``texts``
  (the adversarial texts), ``edits`` (slot, start, end, original, replacement, lang;
  offsets into the original texts), ``score_before``/``score_after`` (the attack's
  score, 1 - p(gold) or 1 - F1), ``prediction_before``/``prediction_after``, and
  ``after``: the evaluation record of the adversarial example, as in
  ``predictions-{lang}.jsonl``.

Cost per language: one attack for all budgets (a clean query pass, a gradient pass and
the largest budget's search, read at each smaller budget where its own search would
have stopped; see :mod:`robust_xlt.adversary.search`) and one evaluation pass per
budget; a beam or stacked search, whose rounds depend on the budget, runs once per
budget instead. The coverage is one ``candidates`` and one ``perturb`` call per
language (no model work). attack.json's ``shared_search`` says which it was; a shared
search's ``seconds`` are the whole search's, at every budget.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robust_xlt._core import Lexicon
from robust_xlt.adversary import AttackConfig, ExampleAttack, attack_budgets, build_space, shares_search, slots_of
from robust_xlt.adversary.results import AttackResult, summarize
from robust_xlt.adversary.space import target_languages
from robust_xlt.adversary.victims import search_dtype
from robust_xlt.atomic import write_json, write_jsonl, write_text_atomic
from robust_xlt.evaluation.evaluate import evaluate
from robust_xlt.evaluation.summary import METRIC_TITLES
from robust_xlt.perturbation import perturb
from robust_xlt.tasks import InputSettings, Task

__all__ = [
    "ATTACK_JSON",
    "ATTACK_MD",
    "DEFAULT_BUDGETS",
    "attack_files",
    "attack_languages",
    "attack_records_path",
    "attack_table",
    "budget_key",
    "check_attack_output",
    "lexicon_coverage",
    "write_attack",
]

log = logging.getLogger(__name__)

ATTACK_JSON = "attack.json"
ATTACK_MD = "attack.md"
RECORDS_PREFIX = "attack-"
# None, A2T's middle budget and twice it on each side: accuracy at 0 is the clean
# score, so the curve over budgets starts from eval's number.
DEFAULT_BUDGETS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4)


def budget_key(budget: float) -> str:
    """The budget as attack.json's key and attack.md's column: 0, 0.1, 0.25."""
    return f"{budget:g}"


def attack_records_path(folder: Path, lang: str) -> Path:
    return folder / f"{RECORDS_PREFIX}{lang}.jsonl"


def attack_files(folder: Path) -> list[Path]:
    """The files a previous attack left in ``folder``."""
    if not folder.is_dir():
        return []
    found = [folder / name for name in (ATTACK_JSON, ATTACK_MD) if (folder / name).exists()]
    return found + sorted(folder.glob(f"{RECORDS_PREFIX}*.jsonl"))


def check_attack_output(folder: Path, *, overwrite: bool) -> None:
    """An output folder holding a previous attack is refused unless ``overwrite``
    (then ``write_attack`` replaces it). Other commands' files are never at stake: an
    attack writes only attack.json, attack.md and attack-{lang}.jsonl."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--output-dir {folder} is a file; give a folder")
    previous = attack_files(folder)
    if previous and not overwrite:
        raise ValueError(
            f"--output-dir {folder} already holds an attack ({', '.join(p.name for p in previous)}); "
            "pass --overwrite to replace it, or give another folder"
        )


# ------------------------------------------------------------------ coverage


def lexicon_coverage(task: Task, examples: Sequence[Any], lexicon: Lexicon, config: AttackConfig) -> dict[str, Any]:
    """How much of one language's examples the lexicon reaches, for the attack's
    mode, target languages and stop words, counting every text of every example.

    From the core's counts (``perturb`` at rate 0, which changes nothing): ``words``,
    ``stopwords``, ``protected`` (other words in a protected span: QA answers),
    ``without_candidate`` and ``eligible`` (not a stop word, unprotected, with at least
    one candidate). ``coverage`` is eligible / words, ``content_coverage`` eligible /
    (words - stop words - protected), both percentages. From the adversary's space:
    ``by_lang[L]``, the percentage of words with a candidate in language L (the
    text's own language: synonyms; the others: translations)."""
    texts, protect = slots_of(task, examples)
    langs = {ex.lang for ex in examples}
    if len(langs) > 1:
        raise ValueError(f"lexicon_coverage takes one language's examples, got {', '.join(sorted(langs))}")
    lang = next(iter(langs), "")
    flat = [t for ts in texts for t in ts]
    spans = [list(s) for ss in protect for s in ss]
    counts = {"words": 0, "stopwords": 0, "protected": 0, "without_candidate": 0, "eligible": 0}
    if flat:
        for p in perturb(
            flat,
            lang,
            lexicon,
            mode=config.mode,
            rate=0.0,
            seed=0,
            target_langs=target_languages(config, lexicon, lang),
            protect=spans,
            stopwords=config.stopwords,
        ):
            counts["words"] += p.word_count
            counts["stopwords"] += p.stopword_count
            counts["protected"] += p.protected_count
            counts["without_candidate"] += p.no_candidate_count
            counts["eligible"] += p.eligible_count
    by_lang: dict[str, set[tuple[int, int, int]]] = {}
    for i, space in enumerate(build_space(task, examples, lexicon, config)):
        for s in space.substitutions:
            by_lang.setdefault(s.lang, set()).add((i, s.slot, s.start))
    words = counts["words"]
    content = words - counts["stopwords"] - counts["protected"]
    pct = lambda k, d: 100.0 * k / d if d else 0.0  # noqa: E731
    return {
        **counts,
        "coverage": pct(counts["eligible"], words),
        "content_coverage": pct(counts["eligible"], content),
        "by_lang": {other: pct(len(found), words) for other, found in sorted(by_lang.items())},
    }


# -------------------------------------------------------------------- attack


def attack_languages(
    task: Task,
    model: Any,
    tokenizer: Any,
    sets: Mapping[str, Sequence[Any]],
    lexicon: Lexicon,
    budgets: Sequence[float],
    config: AttackConfig,
    settings: InputSettings,
    device: torch.device,
    *,
    samples: int = 3,
    procs: Any = None,
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """(the JSON part of attack.json that the attack computes, the per-example records
    of each language), for every language of ``sets`` and every budget (module
    docstring). ``config.budget`` is replaced by each of ``budgets``; examples whose
    ``lang`` is not their set's are attacked as their set's language.

    ``procs`` (training.parallel.Processes, several processes): each process searches
    its contiguous block of every language's examples and process 0 gathers them in
    order, scores the adversarial texts and returns the numbers; the others return
    empty parts (their share is in process 0's)."""
    if not budgets:
        raise ValueError("no budgets to attack")
    if len(set(budgets)) != len(budgets):
        raise ValueError(f"budgets lists a budget twice: {','.join(budget_key(b) for b in budgets)}")
    for b in budgets:
        AttackConfig(budget=b)  # the config's own range check, naming the value
    languages: dict[str, Any] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    for lang, given in sets.items():
        examples = [ex if ex.lang == lang else dataclasses.replace(ex, lang=lang) for ex in task.examples(given)]
        coverage = lexicon_coverage(task, examples, lexicon, config)
        if coverage["eligible"] == 0:
            log.warning("attack %s: the lexicon has no candidate for any of its words (mode %s); nothing can change", lang, config.mode)
        originals, _ = slots_of(task, examples)
        rows: dict[str, Any] = {}
        records[lang] = []
        found = _attack_blocks(procs, task, model, tokenizer, examples, lexicon, config, budgets, settings)
        if found is None:
            continue  # not process 0: its block went to process 0
        for budget in budgets:
            result = found[budget]
            scores, after = evaluate(task, model, tokenizer, [r.example for r in result.examples], settings, device)
            s = result.summary
            attacked = [r for r in result.examples if not r.skipped]
            rows[budget_key(budget)] = {
                **{name: scores[name] for name in task.metrics},
                "count": int(scores["count"]),
                "attacked": s.attacked,
                "successes": s.successes,
                "success_rate": s.success_rate,
                "mean_changed_share": s.mean_changed_share,
                "max_changed_share": max((r.changed_share for r in attacked), default=0.0),
                "mean_queries": s.mean_queries,
                "total_queries": sum(r.queries for r in result.examples),
                "seconds": round(s.seconds, 3),
                "samples": _samples(result.examples, originals, samples),
            }
            records[lang].extend(_record(r, lang, budget, rec) for r, rec in zip(result.examples, after, strict=True))
            main = task.selection_metric
            log.info(
                "attack %s at budget %s: %s %.2f, success %.1f%% of %d, changed %.3f, queries %.1f (%.1f s)",
                lang,
                budget_key(budget),
                main,
                scores[main],
                s.success_rate,
                s.attacked,
                s.mean_changed_share,
                s.mean_queries,
                s.seconds,
            )
        languages[lang] = {"coverage": coverage, "budgets": rows}
    if procs is not None and not procs.main:
        return {}, {}
    keys = [budget_key(b) for b in budgets]
    averaged = (*task.metrics, "success_rate", "mean_changed_share", "mean_queries")
    average = None
    if languages:
        average = {k: {name: float(np.mean([e["budgets"][k][name] for e in languages.values()])) for name in averaged} for k in keys}
    summary = {
        "metrics": list(task.metrics),
        "budgets": [float(b) for b in budgets],
        "attack": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items() if k != "budget"},
        # What "auto" became on this device: the search's arithmetic (scores are fp32).
        "search_precision": "fp32" if search_dtype(config.search_precision, next(model.parameters()).device) is None else "bf16",
        # One greedy search read at every budget, or one search per budget (module docstring).
        "shared_search": shares_search(config),
        "languages": languages,
        "average": average,
    }
    return summary, records


def _attack_blocks(
    procs: Any,
    task: Task,
    model: Any,
    tokenizer: Any,
    examples: list[Any],
    lexicon: Lexicon,
    config: AttackConfig,
    budgets: Sequence[float],
    settings: InputSettings,
) -> dict[float, AttackResult] | None:
    """The attack of ``examples`` at each budget, each process searching its own block;
    on process 0 the whole result per budget (blocks in order, the slowest block's
    seconds), None elsewhere."""
    if procs is None or procs.world == 1:
        return attack_budgets(task, model, tokenizer, examples, lexicon, budgets, config, settings=settings)
    mine = attack_budgets(task, model, tokenizer, procs.block(examples), lexicon, budgets, config, settings=settings)
    blocks = procs.gather({b: (r.examples, r.summary.seconds) for b, r in mine.items()})
    if not procs.main:
        return None
    out = {}
    for b in budgets:
        merged = [r for part in blocks for r in part[b][0]]
        out[b] = AttackResult(merged, summarize(merged, max(part[b][1] for part in blocks)))
    return out


def _record(r: ExampleAttack, lang: str, budget: float, after: dict[str, Any]) -> dict[str, Any]:
    out = r.record()
    return {"id": out.pop("id"), "lang": lang, "budget": budget, "changed_share": r.changed_share, **out, "after": after}


def _samples(results: Sequence[ExampleAttack], originals: Sequence[tuple[str, ...]], n: int) -> list[dict[str, Any]]:
    """Up to ``n`` changed examples, successes first, in example order."""
    changed = [i for i, r in enumerate(results) if r.edits]
    chosen = sorted(changed, key=lambda i: not results[i].success)[:n]
    return [
        {
            "id": results[i].id,
            "success": results[i].success,
            "original": list(originals[i]),
            "adversarial": list(results[i].texts),
            "edits": [f"{e.original} -> {e.replacement} ({e.lang})" for e in results[i].edits],
        }
        for i in chosen
    ]


# ------------------------------------------------------------------- reports


def attack_table(results: Mapping[str, Any]) -> str:
    """attack.md's tables: per quantity, rows language, columns budget; then the
    lexicon coverage per language."""
    langs = list(results["languages"])
    keys = [budget_key(b) for b in results["budgets"]]
    source = results.get("source_lang")
    low = set(results.get("low_resource_langs") or ())

    def title(lang: str) -> str:
        return lang + (" (source)" if lang == source else " (low-resource)" if lang in low else "")

    def table(heading: str, name: str, fmt: str) -> list[str]:
        rows = [f"**{heading}**", "", "| language | " + " | ".join(f"budget {k}" for k in keys) + " |", "|---|" + "---:|" * len(keys)]
        for lang in langs:
            cells = results["languages"][lang]["budgets"]
            rows.append(f"| {title(lang)} | " + " | ".join(format(cells[k][name], fmt) for k in keys) + " |")
        if results.get("average") is not None and len(langs) > 1:
            rows.append(f"| **average** ({len(langs)} languages) | " + " | ".join(format(results["average"][k][name], fmt) for k in keys) + " |")
        return [*rows, ""]

    lines: list[str] = []
    for name in results["metrics"]:
        lines += table(f"{METRIC_TITLES.get(name, name)} under attack", name, ".2f")
    lines += table("attack success rate (% of the examples the model had right)", "success_rate", ".1f")
    lines += table("mean share of words changed (attacked examples)", "mean_changed_share", ".3f")
    lines += table("queries per attacked example", "mean_queries", ".1f")
    candidate_langs = sorted({other for lang in langs for other in results["languages"][lang]["coverage"]["by_lang"]})
    lines += [
        "**lexicon coverage** (% of words with at least one candidate; then with one in each language: "
        "the text's own language gives synonyms, the others translations)",
        "",
        "| language | words | % of words | % of content words | " + " | ".join(f"{o} candidates" for o in candidate_langs) + " |",
        "|---|" + "---:|" * (3 + len(candidate_langs)),
    ]
    for lang in langs:
        c = results["languages"][lang]["coverage"]
        by = " | ".join(f"{c['by_lang'][o]:.1f}" if o in c["by_lang"] else "-" for o in candidate_langs)
        lines.append(f"| {title(lang)} | {c['words']} | {c['coverage']:.1f} | {c['content_coverage']:.1f} | {by} |")
    return "\n".join(lines) + "\n"


def _samples_text(results: Mapping[str, Any]) -> str:
    """The samples of each language's largest budget (attack.json holds every budget's)."""
    lines = []
    for lang, entry in results["languages"].items():
        key = budget_key(max(results["budgets"]))
        for s in entry["budgets"][key]["samples"]:
            verdict = "fooled" if s["success"] else "not fooled"
            lines.append(f"- {lang}, budget {key}, `{s['id']}` ({verdict}): {'; '.join(s['edits'])}")
            for before, after in zip(s["original"], s["adversarial"], strict=True):
                if before != after:
                    lines += [f"  - before: {before}", f"  - after: {after}"]
    return "\n".join(lines) + "\n" if lines else "None of the examples changed.\n"


def write_attack(folder: Path, results: Mapping[str, Any], records: Mapping[str, Sequence[Mapping[str, Any]]], heading: str) -> None:
    """attack-{lang}.jsonl, then attack.json and attack.md, each written atomically.
    A previous attack's files in ``folder`` are replaced, and its records of languages
    not attacked now removed, so the folder holds one attack (``check_attack_output``
    decides beforehand whether that is allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    current = {attack_records_path(folder, lang) for lang in records}
    stale = [p for p in attack_files(folder) if p.name.startswith(RECORDS_PREFIX) and p not in current]
    if stale:
        log.info("removing the previous attack's records in %s: %s", folder, ", ".join(p.name for p in stale))
    for path in stale:
        path.unlink()
    for lang, recs in records.items():
        write_jsonl(attack_records_path(folder, lang), recs)
    write_json(folder / ATTACK_JSON, results)
    setting = results["attack"]
    about = f"Mode {setting['mode']}, ranking {setting['ranking']}, beam {setting['beam_width']}"
    if setting.get("stack"):
        about += ", stacked changes"
    if results.get("search_precision"):
        about += f", search in {results['search_precision']} (scores in fp32)"
    if setting.get("min_similarity") is not None:
        about += f", min similarity {setting['min_similarity']}"
    about += f"; lexicon {', '.join(results.get('lexicon') or ['?'])}."
    samples = _samples_text(results)
    text = f"# {heading}\n\n{about}\n\n{attack_table(results)}\n**sample adversarial texts**\n\n{samples}"
    write_text_atomic(folder / ATTACK_MD, text)


