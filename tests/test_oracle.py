"""Oracle model selection (issue 9): target-language dev rows after the evaluated ones,
every language scored at each evaluation step, each target language reported at the
step its own dev rows chose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from robust_xlt.data import PairExample, QAExample
from robust_xlt.data.splits import normalise
from robust_xlt.evaluation import oracle_selection, read_predictions, summarize
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training import ConfigError, TrainConfig, train
from robust_xlt.training.data import load_task_data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def config(task: str, tiny: str, out: Path, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = dict(
        task=task,
        model=tiny,
        batch_size=8,
        max_steps=6,
        eval_every=2,
        output_dir=str(out),
        threads=1,
        device="cpu",
        checkpoint_interval=0.0,
        max_eval_examples=3,
        oracle_dev_examples=3,
        method=("rs-da", "adv"),
        adv_init_mag=0.3,
    )
    base.update(dict(max_length=96, qa_overlap=24, max_query_length=24, max_eval_examples=2, oracle_dev_examples=2) if task == "qa" else dict(max_length=48))
    base.update(overrides)
    return TrainConfig(**base)


# ------------------------------------------------------------------ the selection


def test_each_target_language_is_taken_at_its_own_best_dev_step() -> None:
    def rec(step: int, lang: str, dev: float | None, score: float) -> dict[str, Any]:
        return {"step": step, "lang": lang, "dev": None if dev is None else {"accuracy": dev}, "eval": {"accuracy": score, "count": 10.0}}

    steps = [
        rec(2, "en", None, 70.0), rec(2, "de", 50.0, 60.0), rec(2, "sw", 40.0, 30.0),
        rec(4, "en", None, 75.0), rec(4, "de", 55.0, 62.0), rec(4, "sw", 40.0, 35.0),  # sw ties: the earlier step stays
        rec(6, "en", None, 72.0), rec(6, "de", 52.0, 64.0), rec(6, "sw", 38.0, 36.0),
    ]
    # English-dev selection chose step 6 (its scores are the run's own).
    selected = summarize({"en": {"accuracy": 72.0, "count": 10.0}, "de": {"accuracy": 64.0, "count": 10.0}, "sw": {"accuracy": 36.0, "count": 10.0}}, ["accuracy"], "en", ["sw"])
    oracle = oracle_selection(steps, selected, "accuracy", ["accuracy"], ["sw"], {"de": 5, "sw": 5})
    assert oracle["steps"] == {"de": 4, "sw": 2}
    assert oracle["dev"] == {"de": 55.0, "sw": 40.0}
    assert {lang: s["accuracy"] for lang, s in oracle["languages"].items()} == {"en": 72.0, "de": 62.0, "sw": 30.0}
    assert oracle["target_average"]["accuracy"] == pytest.approx(46.0)
    assert oracle["low_resource_average"]["accuracy"] == 30.0
    assert oracle["average"]["accuracy"] == pytest.approx((72 + 62 + 30) / 3)
    assert oracle["dev_examples"] == {"de": 5, "sw": 5}


# ------------------------------------------------------------------ the rows


def _texts(ex: Any) -> tuple[str, ...]:
    return (ex.text_a, ex.text_b) if isinstance(ex, PairExample) else (ex.context,)


@pytest.mark.parametrize("task", ["pawsx", "xnli", "qa"])
def test_oracle_rows_follow_the_evaluated_ones_and_share_no_text(tiny: str, tmp_path: Path, task: str) -> None:
    data = load_task_data(config(task, tiny, tmp_path).resolved())
    n = 2 if task == "qa" else 3
    assert set(data.oracle_dev) == set(data.eval) - {"en"}
    for lang, rows in data.oracle_dev.items():
        assert len(rows) == n
        evaluated = data.eval[lang]
        assert not {ex.id for ex in rows} & {ex.id for ex in evaluated}
        keys = {normalise(t) for ex in evaluated for t in _texts(ex)}
        assert not any(normalise(t) in keys for ex in rows for t in _texts(ex)), lang
    if task != "qa":  # row-aligned: the same ids in every language, none an evaluated id in any
        ids = [[ex.id for ex in rows] for rows in data.oracle_dev.values()]
        assert all(i == ids[0] for i in ids)
        assert not set(ids[0]) & {ex.id for exs in data.eval.values() for ex in exs}
    else:
        assert all(isinstance(ex, QAExample) for rows in data.oracle_dev.values() for ex in rows)
    assert data.splits["ids"]["oracle_dev"] == {lang: [ex.id for ex in rows] for lang, rows in data.oracle_dev.items()}
    assert data.splits["overlap"]["oracle_dev"]["train"] == {lang: 0 for lang in data.oracle_dev}


def test_oracle_needs_rows_left_over(tiny: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="set max_eval_examples"):
        config("xnli", tiny, tmp_path, max_eval_examples=None).resolved()
    with pytest.raises(ConfigError, match=r"oracle_dev_examples 3: the de evaluation data holds no rows beyond the 6 evaluated"):
        load_task_data(config("xnli", tiny, tmp_path, max_eval_examples=6).resolved())
    with pytest.raises(ConfigError, match="oracle_dev_examples must be 0 or more"):
        config("xnli", tiny, tmp_path, oracle_dev_examples=-1).resolved()


# ------------------------------------------------------------------ runs


def _records(out: Path, event: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("event") == event]


def test_oracle_run_reports_both_selections_and_changes_nothing_else(tiny: str, tmp_path: Path) -> None:
    plain = train(config("xnli", tiny, tmp_path / "plain", oracle_dev_examples=0)).results
    run = train(config("xnli", tiny, tmp_path / "oracle")).results
    # The English-dev selection, its scores and predictions are the run without an
    # oracle's, although the oracle run reuses the scores of its selected step.
    assert {k: v for k, v in run.items() if k != "oracle"} == plain
    for lang in plain["languages"]:
        assert read_predictions(tmp_path / "oracle", lang) == read_predictions(tmp_path / "plain", lang)
    events = _records(tmp_path / "oracle", "oracle")
    assert [(r["step"], r["lang"]) for r in events] == [(s, lang) for s in (2, 4, 6) for lang in plain["languages"]]
    # The selected step's recorded evaluation is the run's final one.
    at_best = {r["lang"]: r["eval"] for r in events if r["step"] == plain["best_step"]}
    assert at_best == plain["languages"]
    oracle = run["oracle"]
    for lang, step in oracle["steps"].items():
        devs = [(r["dev"]["accuracy"], -r["step"]) for r in events if r["lang"] == lang]
        assert -max(devs)[1] == step
        assert oracle["languages"][lang] == next(r["eval"] for r in events if r["lang"] == lang and r["step"] == step)
    assert oracle["languages"]["en"] == plain["languages"]["en"]
    assert "Oracle selection" in (tmp_path / "oracle" / "results.md").read_text()


class Killed(Exception):
    pass


def test_killed_oracle_run_resumes_to_the_same_result(tiny: str, tmp_path: Path) -> None:
    whole = train(config("xnli", tiny, tmp_path / "whole")).results

    def kill(step: int) -> None:
        if step == 5:  # checkpoints at 2 and 4: the oracle records of 2 and 4 come back from the checkpoint
            raise Killed

    with pytest.raises(Killed):
        train(config("xnli", tiny, tmp_path / "killed"), on_step=kill)
    resumed = train(config("xnli", tiny, tmp_path / "killed"), resume=True).results
    assert resumed == whole
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(_records(tmp_path / "killed", "oracle")) == strip(_records(tmp_path / "whole", "oracle"))
