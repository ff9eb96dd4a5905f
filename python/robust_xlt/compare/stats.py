"""The statistics of a grid report: seeds summarised, a method paired against the
baseline, and the seeds a one-point difference would need.

Scores are percentages (an example scores 0 or 100 for accuracy and EM, 100 x F1 for
F1), so every difference is in points.

* :func:`seed_summary`: mean and standard deviation (ddof 1) over seeds, and a 95%
  percentile bootstrap interval over seeds (``scipy.stats.bootstrap``). One seed has
  neither a deviation nor an interval, and says so.
* :func:`paired_difference`: method minus baseline on the same seeds (seed ``s`` of one
  with seed ``s`` of the other) and the same examples (by id). The difference of a group
  of languages is the mean over its languages of the mean over seeds and examples, the
  same equal weighting per language as a run's reported averages. Its 95% interval is a
  hierarchical paired bootstrap: resample the seeds, then within each drawn seed the
  examples of each language, and take the group's difference. ``scipy.stats.bootstrap``
  resamples one level only, so the two-level resampling is done here with numpy's
  Generator and scipy computes the percentile interval from that distribution (its
  documented ``bootstrap_result=..., n_resamples=0`` path). The p-value is
  ``scipy.stats.permutation_test`` on the per-example differences averaged over seeds:
  under "no difference" the two methods' labels can be swapped on any example, which
  flips the sign of that example's difference in every seed at once.
* :func:`seeds_needed`: the smallest number of seeds at which a t-test detects a
  difference of ``delta`` points with the given power, from the t quantiles
  (``scipy.stats.t``): paired, n >= ((t(1-a/2, n-1) + t(power, n-1)) tau / delta)^2 with
  tau^2 the variance of one seed's difference; unpaired (two methods, n seeds each),
  n >= 2 ((t(1-a/2, 2n-2) + t(power, 2n-2)) sigma / delta)^2 with sigma^2 the
  between-seed variance of one method's score.

Every random draw comes from a fixed seed, so a report is the same each time it is
made from the same runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# Seed-level intervals resample a handful of numbers: cheap, so many resamples.
SEED_RESAMPLES = 9999
# Two-level resamples cost seeds x examples draws each (5 x 9,000 for XNLI's 15
# languages): 2,000 give interval ends stable to about 0.05 points at that size.
HIERARCHICAL_RESAMPLES = 2000
# The smallest p-value 9,999 sign-flip resamples can show is 1e-4.
PERMUTATION_RESAMPLES = 9999
RANDOM_SEED = 0
# Draws held in memory at once by the two-level bootstrap (int64 indices: 16 MB).
_DRAWS_PER_CHUNK = 2_000_000


def seed_summary(values: Sequence[float]) -> dict[str, Any]:
    """``n``, ``mean``, ``std`` (ddof 1), ``ci_low``/``ci_high`` (95% percentile
    bootstrap over seeds), ``values``, and ``note`` when there is no interval."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    out: dict[str, Any] = {"n": int(x.size), "mean": None, "std": None, "ci_low": None, "ci_high": None, "values": x.tolist()}
    if x.size == 0:
        out["note"] = "no runs"
        return out
    out["mean"] = float(x.mean())
    if x.size == 1:
        out["note"] = "one seed: no spread or interval over seeds"
        return out
    out["std"] = float(x.std(ddof=1))
    if np.all(x == x[0]):
        out["ci_low"] = out["ci_high"] = float(x[0])
        out["note"] = "every seed scored the same"
        return out
    # Percentile, not BCa: BCa's jackknife on 3-5 seeds is itself noise. With so few
    # seeds any bootstrap interval is narrower than a t interval; read it with std.
    ci = stats.bootstrap(
        (x,), np.mean, n_resamples=SEED_RESAMPLES, method="percentile", confidence_level=CONFIDENCE, rng=np.random.default_rng(RANDOM_SEED)
    ).confidence_interval
    out["ci_low"], out["ci_high"] = float(ci.low), float(ci.high)
    return out


@dataclass(frozen=True)
class PairedData:
    """One language's per-example differences, method minus baseline: ``diffs[s, i]``
    for the common seeds ``seeds`` and the common example ids ``ids``."""

    lang: str
    seeds: tuple[int, ...]
    ids: tuple[str, ...]
    diffs: np.ndarray

    @classmethod
    def of(
        cls, lang: str, method: Mapping[int, Mapping[str, float]], baseline: Mapping[int, Mapping[str, float]]
    ) -> PairedData | None:
        """From per-seed maps example id -> score; None when no seed or no id is common.
        Ids are those every common seed of both holds, in the first baseline seed's order."""
        seeds = tuple(sorted(set(method) & set(baseline)))
        if not seeds:
            return None
        first = baseline[seeds[0]]
        ids = tuple(i for i in first if all(i in method[s] and i in baseline[s] for s in seeds))
        if not ids:
            return None
        diffs = np.array([[method[s][i] - baseline[s][i] for i in ids] for s in seeds], dtype=float)
        return cls(lang, seeds, ids, diffs)


def hierarchical_distribution(data: Sequence[PairedData], n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, languages): each resample's mean difference per language. A
    resample draws seeds with replacement (the same draw for every language: one seed
    moves all languages together), then, within each drawn seed, each language's
    examples with replacement."""
    n_seeds = len(data[0].seeds)
    seed_draws = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
    out = np.empty((n_resamples, len(data)))
    for column, d in enumerate(data):
        n = d.diffs.shape[1]
        chunk = max(1, _DRAWS_PER_CHUNK // (n_seeds * n))
        for start in range(0, n_resamples, chunk):
            stop = min(start + chunk, n_resamples)
            examples = rng.integers(0, n, size=(stop - start, n_seeds, n))
            drawn = d.diffs[seed_draws[start:stop, :, None], examples]
            out[start:stop, column] = drawn.mean(axis=(1, 2))
    return out


def paired_difference(
    data: Sequence[PairedData], distribution: np.ndarray | None = None, columns: Sequence[int] | None = None
) -> dict[str, Any]:
    """The difference of a group of languages (``data``, or ``columns`` of it when
    ``distribution`` from :func:`hierarchical_distribution` over all of ``data`` is
    given, so that groups share one resampling), with its interval, p-value and power.

    Returns ``difference``, ``ci_low``/``ci_high``, ``p_value``, ``n_seeds``,
    ``n_examples``, ``seed_differences`` (one per seed), the variance parts
    ``between_seed_var`` and ``example_var`` (see :func:`difference_variance`),
    ``seeds_needed_paired`` and ``note``."""
    if columns is None:
        columns = list(range(len(data)))
    group = [data[c] for c in columns]
    seeds = group[0].seeds
    if any(d.seeds != seeds for d in group):
        raise ValueError("the languages of one group must share their seeds")
    # Per seed: the group's difference, equal weight per language.
    per_seed = np.mean([d.diffs.mean(axis=1) for d in group], axis=0)
    difference = float(per_seed.mean())
    if distribution is None:
        distribution = hierarchical_distribution(group, HIERARCHICAL_RESAMPLES, np.random.default_rng(RANDOM_SEED))
        columns_in = list(range(len(group)))
    else:
        columns_in = list(columns)
    resampled = distribution[:, columns_in].mean(axis=1)
    low, high = _percentile_interval(resampled, per_seed)
    between, example = difference_variance(group)
    out: dict[str, Any] = {
        "difference": difference,
        "ci_low": low,
        "ci_high": high,
        "p_value": sign_flip_p_value(group),
        "n_seeds": len(seeds),
        "n_examples": int(sum(d.diffs.shape[1] for d in group)),
        "seed_differences": per_seed.tolist(),
        "between_seed_var": between,
        "example_var": example,
        "seeds_needed_paired": None if between is None else seeds_needed(math.sqrt(between + example), paired=True),
    }
    if len(seeds) == 1:
        out["note"] = "one seed: the interval covers example sampling only, not seed variance"
    return out


def _percentile_interval(resampled: np.ndarray, per_seed: np.ndarray) -> tuple[float, float]:
    """scipy's percentile interval of an already drawn bootstrap distribution.
    ``per_seed`` only satisfies bootstrap's input check (two or more observations)."""
    if np.all(resampled == resampled[0]):
        return float(resampled[0]), float(resampled[0])
    data = per_seed if per_seed.size > 1 else np.repeat(per_seed, 2)
    result = stats.bootstrap(
        (data,),
        np.mean,
        n_resamples=0,
        bootstrap_result=SimpleNamespace(bootstrap_distribution=resampled),
        method="percentile",
        confidence_level=CONFIDENCE,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sign_flip_p_value(group: Sequence[PairedData]) -> float:
    """Two-sided p-value of the group's difference: scipy's paired permutation test
    (``permutation_type="samples"`` swaps the two methods' scores of an example) on
    the per-example scores averaged over seeds, each example weighted as the group's
    equal-per-language mean weights it."""
    deltas = np.concatenate([d.diffs.mean(axis=0) for d in group])
    weights = np.concatenate([np.full(d.diffs.shape[1], 1.0 / (len(group) * d.diffs.shape[1])) for d in group])
    if np.all(deltas == 0):
        return 1.0
    # The method's and baseline's seed-averaged scores differ by deltas; only the
    # difference matters to the statistic, so the pair is (deltas, 0).
    zeros = np.zeros_like(deltas)

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.moveaxis(x - y, axis, -1) @ weights

    result = stats.permutation_test(
        (deltas, zeros),
        statistic,
        permutation_type="samples",
        vectorized=True,
        n_resamples=PERMUTATION_RESAMPLES,
        batch=max(1, _DRAWS_PER_CHUNK // deltas.size),
        rng=np.random.default_rng(RANDOM_SEED),
    )
    return float(result.pvalue)


def difference_variance(group: Sequence[PairedData]) -> tuple[float | None, float]:
    """(between-seed variance of one seed's group difference, ddof 1; None with one
    seed), and the example part: the mean over seeds of that difference's squared
    standard error over its examples. The two add up to the variance of a fresh seed's
    difference on freshly drawn examples, the model the hierarchical bootstrap assumes:
    with the same examples in every seed the seed-to-seed spread leaves the example
    part out, so it is added, not assumed inside."""
    per_seed = np.mean([d.diffs.mean(axis=1) for d in group], axis=0)
    between = float(per_seed.var(ddof=1)) if per_seed.size > 1 else None
    n_langs = len(group)
    squared_errors = [
        sum(float(d.diffs[s].var(ddof=1)) / d.diffs.shape[1] if d.diffs.shape[1] > 1 else 0.0 for d in group) / n_langs**2
        for s in range(len(group[0].seeds))
    ]
    return between, float(np.mean(squared_errors))


def seeds_needed(
    sd: float, *, delta: float = 1.0, alpha: float = 0.05, power: float = 0.8, paired: bool = True, most: int = 10_000
) -> int | None:
    """Seeds to detect a difference of ``delta`` points with a two-sided t-test at
    ``alpha`` with ``power``: paired, ``sd`` is one seed's difference's standard
    deviation and the test has n - 1 degrees of freedom; unpaired, ``sd`` is one
    method's between-seed standard deviation, n seeds a method, 2n - 2 degrees of
    freedom. At least 2 (a t-test needs them); None above ``most``."""
    if not (math.isfinite(sd) and sd >= 0 and delta > 0):
        return None
    for n in range(2, most + 1):
        df = n - 1 if paired else 2 * n - 2
        factor = 1.0 if paired else 2.0
        quantiles = stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(power, df)
        if n >= factor * (quantiles * sd / delta) ** 2:
            return n
    return None
