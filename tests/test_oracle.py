"""Oracle model selection (issue 9): target-language dev rows after the evaluated ones,
scored at each evaluation step; each target language reported at the step its own dev
rows chose, scored after training with that step's saved weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from robust_xlt.data import PairExample, QAExample
from robust_xlt.data.splits import normalise
from robust_xlt.evaluation import evaluate_languages, oracle_selection, read_predictions, summarize
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training import ConfigError, TrainConfig, train
from robust_xlt.training import loop as loop_module
from robust_xlt.training.checkpoint import ORACLE_STEPS_DIR
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


@pytest.fixture
def every_step(monkeypatch: pytest.MonkeyPatch) -> dict[int, dict[str, Any]]:
    """The reference: each evaluation step's in-memory model scored on every
    evaluation set right there, as an oracle that scores everything at every step
    would (the run itself scores them after training, from the saved weights)."""
    seen: dict[int, dict[str, Any]] = {}
    real = loop_module._oracle_dev_step

    def scoring_too(task: Any, model: Any, tokenizer: Any, data: Any, settings: Any, device: Any, step: int) -> Any:
        seen[step] = {lang: scores for lang, (scores, _) in evaluate_languages(task, model, tokenizer, data.eval, settings, device).items()}
        return real(task, model, tokenizer, data, settings, device, step)

    monkeypatch.setattr(loop_module, "_oracle_dev_step", scoring_too)
    return seen


@pytest.fixture(scope="module")
def other_step(tiny: str, tmp_path_factory: pytest.TempPathFactory) -> int:
    """An evaluation step (of 2, 4, 6) that the English dev set does not choose: the
    oracle does not change training, so a run without it tells."""
    best = train(config("xnli", tiny, tmp_path_factory.mktemp("plain"), oracle_dev_examples=0)).results["best_step"]
    return next(s for s in (2, 4, 6) if s != best)


def _favour(monkeypatch: pytest.MonkeyPatch, lang: str, step: int) -> None:
    """Make ``lang``'s dev rows prefer ``step`` (a high score there, a low one after),
    so that its oracle step differs from the source-selected one."""
    real = loop_module._oracle_dev_step

    def favouring(*args: Any) -> Any:
        records = real(*args)
        for r in records:
            if r["lang"] == lang:
                r["dev"] = {**r["dev"], "accuracy": 100.0 if r["step"] == step else 0.0}
        return records

    monkeypatch.setattr(loop_module, "_oracle_dev_step", favouring)


def test_oracle_run_reports_both_selections_and_changes_nothing_else(tiny: str, tmp_path: Path, every_step: dict[int, Any]) -> None:
    plain = train(config("xnli", tiny, tmp_path / "plain", oracle_dev_examples=0)).results
    assert every_step == {}  # no oracle, no oracle step
    run = train(config("xnli", tiny, tmp_path / "oracle")).results
    # The English-dev selection, its scores and predictions are the run without an oracle's.
    assert {k: v for k, v in run.items() if k != "oracle"} == plain
    for lang in plain["languages"]:
        assert read_predictions(tmp_path / "oracle", lang) == read_predictions(tmp_path / "plain", lang)
    targets = [lang for lang in plain["languages"] if lang != "en"]
    events = _records(tmp_path / "oracle", "oracle")
    assert [(r["step"], r["lang"]) for r in events] == [(s, lang) for s in (2, 4, 6) for lang in targets]
    assert all("eval" not in r for r in events)  # evaluation rows are not scored during training
    oracle = run["oracle"]
    assert set(oracle["steps"]) == set(targets)
    for lang, step in oracle["steps"].items():
        devs = [(r["dev"]["accuracy"], -r["step"]) for r in events if r["lang"] == lang]
        assert -max(devs)[1] == step
        # Scored after training from the step's saved weights, as the model was at that step.
        assert oracle["languages"][lang] == every_step[step][lang]
    assert oracle["languages"]["en"] == plain["languages"]["en"]
    assert "Oracle selection" in (tmp_path / "oracle" / "results.md").read_text()
    assert not (tmp_path / "oracle" / ORACLE_STEPS_DIR).exists()  # the step weights go with the run's end


def test_a_language_whose_step_is_not_the_selected_one_is_scored_with_its_steps_weights(
    tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_step: dict[int, Any], other_step: int
) -> None:
    _favour(monkeypatch, "de", other_step)
    kept: list[set[str]] = []
    real_prune = loop_module.ckpt.prune_step_weights

    def watching(out: Path, keep: set[int]) -> None:
        real_prune(out, keep)
        kept.append({p.name for p in (out / ORACLE_STEPS_DIR).iterdir()})

    monkeypatch.setattr(loop_module.ckpt, "prune_step_weights", watching)
    run = train(config("xnli", tiny, tmp_path / "run")).results
    oracle = run["oracle"]
    assert oracle["steps"]["de"] == other_step and run["best_step"] != other_step
    assert oracle["languages"]["de"] == every_step[other_step]["de"]
    for lang, step in oracle["steps"].items():
        assert oracle["languages"][lang] == every_step[step][lang]
    # The step's weights stay on disk from when de chose it; a step no language chose does not stay.
    assert all(f"step-{other_step}.safetensors" in names for names in kept[other_step // 2 - 1 :])
    needed = {f"step-{s}.safetensors" for s in oracle["steps"].values()}
    assert kept[-1] == needed


def test_frozen_embeddings_take_the_other_steps_weights_too(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_step: dict[int, Any]) -> None:
    """With the word embeddings frozen the step files hold every parameter but the
    embedding matrix: the model reloaded after training must take them (a grid cell,
    adv at radius 0.05, failed here when its oracle step was not the selected one)."""
    frozen = dict(freeze_embeddings=True)
    best = train(config("xnli", tiny, tmp_path / "plain", oracle_dev_examples=0, **frozen)).results["best_step"]
    step = next(s for s in (2, 4, 6) if s != best)
    every_step.clear()
    _favour(monkeypatch, "de", step)
    run = train(config("xnli", tiny, tmp_path / "run", **frozen)).results
    oracle = run["oracle"]
    assert oracle["steps"]["de"] == step and run["best_step"] == best
    for lang, chosen in oracle["steps"].items():
        assert oracle["languages"][lang] == every_step[chosen][lang]


def test_a_corrupt_step_file_is_named(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_step: int) -> None:
    _favour(monkeypatch, "de", other_step)

    def kill(step: int) -> None:
        if step == 6:  # after the last checkpoint: only the final evaluation is left
            (tmp_path / "run" / ORACLE_STEPS_DIR / f"step-{other_step}.safetensors").write_bytes(b"not weights")
            raise Killed

    with pytest.raises(Killed):
        train(config("xnli", tiny, tmp_path / "run"), on_step=kill)
    with pytest.raises(Exception, match=rf"step-{other_step}\.safetensors: cannot read the oracle's step-{other_step} weights"):
        train(config("xnli", tiny, tmp_path / "run"), resume=True)


class Killed(Exception):
    pass


@pytest.mark.parametrize("at", [3, 5, 6])
def test_killed_oracle_run_resumes_to_the_same_result(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int, other_step: int) -> None:
    _favour(monkeypatch, "de", other_step)  # de needs that step's weights to the end
    whole = train(config("xnli", tiny, tmp_path / "whole")).results

    def kill(step: int) -> None:
        if step == at:  # checkpoints at 2, 4 and 6: the oracle records come back from the checkpoint
            raise Killed

    with pytest.raises(Killed):
        train(config("xnli", tiny, tmp_path / "killed"), on_step=kill)
    resumed = train(config("xnli", tiny, tmp_path / "killed"), resume=True).results
    assert resumed == whole and whole["oracle"]["steps"]["de"] == other_step
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(_records(tmp_path / "killed", "oracle")) == strip(_records(tmp_path / "whole", "oracle"))
