"""`robust-xlt compare` and `robust-xlt report`: the statistics against hand-computed
cases, the grid files, and a tiny grid on the tiny model and the smoke sample, run
whole, resumed half-finished, and killed in a cell and continued to the same report."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robust_xlt.cli import main
from robust_xlt.compare import GridError, ReportError, build_report, cell_status, load_grid, run_grid
from robust_xlt.compare import runner as runner_module
from robust_xlt.compare.figures import task_figures
from robust_xlt.compare.stats import (
    PairedData,
    difference_variance,
    hierarchical_distribution,
    paired_difference,
    seed_summary,
    seeds_needed,
    sign_flip_p_value,
)
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training.checkpoint import checkpointed_train_seconds

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ statistics


def paired(lang: str, diffs: np.ndarray) -> PairedData:
    seeds, n = diffs.shape
    return PairedData(lang, tuple(range(seeds)), tuple(str(i) for i in range(n)), np.asarray(diffs, dtype=float))


def test_a_method_one_point_better_on_every_example_differs_by_exactly_one() -> None:
    rng = np.random.default_rng(3)
    base = {s: {str(i): float(v) for i, v in enumerate(100 * rng.integers(0, 2, 200))} for s in range(3)}
    better = {s: {i: v + 1.0 for i, v in scores.items()} for s, scores in base.items()}
    data = [PairedData.of("de", better, base), PairedData.of("sw", better, base)]
    assert all(d is not None for d in data)
    d = paired_difference(data)  # type: ignore[arg-type]
    assert d["difference"] == pytest.approx(1.0)
    assert d["ci_low"] == pytest.approx(1.0) and d["ci_high"] == pytest.approx(1.0)
    # Every example agrees in sign: no sign flip of 9,999 beats it.
    assert d["p_value"] < 1e-3
    assert d["n_seeds"] == 3 and d["n_examples"] == 400
    assert d["between_seed_var"] == pytest.approx(0.0) and d["example_var"] == pytest.approx(0.0)


def test_a_difference_that_varies_between_seeds_gets_an_interval_around_it() -> None:
    # Seed s is 1 + (s - 1) better on every example: differences 0, 1, 2 by seed.
    diffs = np.array([[0.0] * 50, [1.0] * 50, [2.0] * 50])
    d = paired_difference([paired("de", diffs)])
    assert d["difference"] == pytest.approx(1.0)
    assert 0.0 <= d["ci_low"] < 1.0 < d["ci_high"] <= 2.0
    assert d["between_seed_var"] == pytest.approx(1.0)


def test_the_seed_level_resampling_matches_a_hand_enumeration() -> None:
    # Two seeds whose examples all differ by 0 and by 2: a resample of seeds averages
    # to 0, 1 or 2 with probabilities 1/4, 1/2, 1/4 (examples within a seed are all
    # equal, so their resampling changes nothing); the 95% interval is [0, 2].
    diffs = np.array([[0.0] * 10, [2.0] * 10])
    dist = hierarchical_distribution([paired("de", diffs)], 4000, np.random.default_rng(0))[:, 0]
    values, counts = np.unique(dist, return_counts=True)
    assert values.tolist() == [0.0, 1.0, 2.0]
    assert counts / counts.sum() == pytest.approx([0.25, 0.5, 0.25], abs=0.03)
    d = paired_difference([paired("de", diffs)])
    assert (d["ci_low"], d["ci_high"]) == (0.0, 2.0)


def test_a_known_null_covers_zero_with_a_large_p() -> None:
    # Exactly symmetric: half the examples +100, half -100, in every seed.
    diffs = np.tile(np.array([100.0, -100.0] * 50), (3, 1))
    d = paired_difference([paired("sw", diffs)])
    assert d["difference"] == pytest.approx(0.0)
    assert d["ci_low"] < 0.0 < d["ci_high"]
    assert d["p_value"] > 0.9
    # Two methods drawn from one distribution: the interval covers 0, p is not small.
    rng = np.random.default_rng(11)
    a = {s: {str(i): 100.0 * v for i, v in enumerate(rng.random(300) < 0.6)} for s in range(3)}
    b = {s: {str(i): 100.0 * v for i, v in enumerate(rng.random(300) < 0.6)} for s in range(3)}
    d = paired_difference([PairedData.of("de", a, b)])  # type: ignore[list-item]
    assert d["ci_low"] < 0.0 < d["ci_high"]
    assert d["p_value"] > 0.05


def test_sign_flip_p_value_of_three_examples_is_exact() -> None:
    # Three positive differences: of the 8 sign patterns, all-positive and all-negative
    # are as extreme as the observed one: p = 2/8.
    assert sign_flip_p_value([paired("de", np.array([[1.0, 2.0, 3.0]]))]) == pytest.approx(0.25)


def test_variance_parts_by_hand() -> None:
    # Seed means 1 and 3: between-seed variance 2. Within each seed the examples'
    # variance is 2 (ddof 1), over 2 examples: squared standard error 1.
    diffs = np.array([[0.0, 2.0], [2.0, 4.0]])
    assert difference_variance([paired("de", diffs)]) == (pytest.approx(2.0), pytest.approx(1.0))
    d = paired_difference([paired("de", diffs)])
    assert d["seeds_needed_paired"] == seeds_needed(math.sqrt(3.0))


def test_seeds_needed_against_t_tables() -> None:
    # Paired, sd 1, delta 1: n >= (t(.975, n-1) + t(.8, n-1))^2.
    # n = 9: (2.306 + 0.889)^2 = 10.21 > 9; n = 10: (2.262 + 0.883)^2 = 9.89 <= 10.
    assert seeds_needed(1.0, paired=True) == 10
    # Unpaired, sd 0.7 (the XNLI average's seed spread, issue 9): n >= 2 (t + t)^2 0.49.
    # n = 8 (df 14): 2 (2.145 + 0.868)^2 0.49 = 8.90 > 8; n = 9 (df 16): 2 (2.120 + 0.865)^2 0.49 = 8.73 <= 9.
    assert seeds_needed(0.7, paired=False) == 9
    assert seeds_needed(0.0) == 2
    # Four times the spread, sixteen times the seeds (about: the t quantiles shrink).
    many = seeds_needed(4.0, paired=True)
    assert many is not None and 120 <= many <= 135
    assert seeds_needed(float("nan")) is None


def test_seed_summary() -> None:
    one = seed_summary([51.2])
    assert one["mean"] == 51.2 and one["std"] is None and one["ci_low"] is None and "one seed" in one["note"]
    s = seed_summary([1.0, 2.0, 3.0])
    assert s["mean"] == pytest.approx(2.0) and s["std"] == pytest.approx(1.0)
    assert 1.0 <= s["ci_low"] < 2.0 < s["ci_high"] <= 3.0
    same = seed_summary([4.0, 4.0])
    assert (same["ci_low"], same["ci_high"]) == (4.0, 4.0)


# ------------------------------------------------------------------ grid files


def test_the_example_grids_load(tmp_path: Path) -> None:
    quick = load_grid(REPO / "examples" / "grid-quick.toml", output_dir=tmp_path / "q")
    assert len(quick.cells) == 6 and {c.label for c in quick.cells} == {"standard", "rs-da", "adv-sub+linear"}
    xtreme = load_grid(REPO / "examples" / "grid-xtreme.toml", output_dir=tmp_path / "x", data="/data")
    xnli = [c for c in xtreme.cells if c.task == "xnli"]
    qa = [c for c in xtreme.cells if c.task == "tydiqa"]
    assert {c.label for c in xnli} == {"standard", "adv-r0.05", "rs-da", "codeswitch", "adv-sub", "adv-sub+linear", "standard-full"}
    assert {c.seed for c in xnli} == {0, 1, 2, 3, 4} and len(xnli) == 31
    assert [c.seed for c in xnli if c.label == "standard-full"] == [0]  # the one cell the issue asks for
    for c in xnli:
        r = c.config.resolved()
        assert r.max_train_examples is not None and r.max_train_examples >= 6000
        assert r.max_eval_examples is not None and r.max_eval_examples >= 600
        assert r.eval_langs is not None and len(r.eval_langs) == 15
        assert r.train_data == "/data/english-train/mnli/train-29k.tsv" and r.lr == 1e-4 and r.max_length == 128
        assert c.attack is not None and c.attack.rows is not None and c.attack.rows >= 200
        assert {0.1, 0.2} <= set(c.attack.budgets)
        assert {"en", "de", "zh", "ar", "hi", "sw", "ur"} <= set(c.attack.langs or ())
        assert c.generalized is not None
        assert r.freeze_embeddings == (c.label != "standard-full")
        assert (r.adv_radius == 0.05) == (c.label == "adv-r0.05") or "adv" not in r.method
    assert len(qa) == 9 and all(c.config.task == "qa" for c in qa)
    assert all((c.config.max_train_examples or 0) >= 1000 for c in qa)
    scaled = load_grid(REPO / "examples" / "grid-xtreme.toml", data="/data", scale=4)
    assert scaled.output_dir.name == "compare-xtreme-scale4"
    assert scaled.cells[0].config.max_train_examples == 24000 and scaled.cells[0].config.eval_every == 376
    assert scaled.cells[0].config.max_eval_examples == 600  # evaluation rows stay


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tasks.x]\nmethods = [{method = 'standard'}]\n[tasks.x.settings]\nlrr = 1", "unknown key 'lrr'"),
        ("[settings]\nseed = 3\n[tasks.xnli]\nmethods = [{method = 'standard'}]", "set per cell"),
        ("[settings]\ntrain_data = '{data}/a.tsv'\n[tasks.xnli]\nmethods = [{method = 'standard'}]", "give --data"),
        ("[tasks.xnli]\nmethods = [{method = 'rs-da'}, {method = 'rs-da'}]", "used twice"),
        ("[tasks.xnli]\nbudget = 1\nmethods = [{method = 'rs-da'}]", "unknown key(s) budget"),
        ("[tasks.xnli]\nmethods = [{method = 'standard', curriculum = 'linear'}]", "needs a robust method"),
        ("[tasks.xnli.attack]\nbudgets = [2]\n[[tasks.xnli.methods]]\nmethod = 'standard'", "budgets"),
    ],
)
def test_bad_grid_files_fail_naming_the_entry(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(text)
    with pytest.raises(GridError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_grid(path)


# ------------------------------------------------------------ a tiny grid


def write_grid(path: Path, model: str) -> Path:
    path.write_text(
        f"""
seeds = [0, 1]
[settings]
model = "{model}"
max_steps = 2
eval_every = 1
batch_size = 8
max_length = 48
lr = 5e-3
device = "cpu"
checkpoint_interval = 0
max_eval_examples = 3
oracle_dev_examples = 3
[tasks.xnli]
task = "xnli"
[tasks.xnli.attack]
budgets = [0, 0.3]
langs = ["sw"]
seeds = [0]
[tasks.xnli.generalized]
langs = ["en", "sw"]
seeds = [0]
[[tasks.xnli.methods]]
method = "standard"
[[tasks.xnli.methods]]
method = "rs-da"
"""
    )
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


@pytest.fixture(scope="module")
def grid_dir(tiny: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid run whole, once: 2 methods x 2 seeds, seed 0 attacked and
    evaluated in the generalized setting."""
    root = tmp_path_factory.mktemp("grid")
    grid = load_grid(write_grid(root / "grid.toml", tiny), output_dir=root / "out")
    outcome = run_grid(grid)
    assert outcome.ran == [c.name for c in grid.cells] and not outcome.failed
    return root


def without_cost(report: dict[str, Any]) -> dict[str, Any]:
    """report.json less what depends on the machine's load (step times)."""
    clean = json.loads(json.dumps(report))
    for task in clean["tasks"].values():
        task.pop("cost")
    return clean


def test_the_grid_writes_runs_attacks_and_a_report_with_figures(grid_dir: Path) -> None:
    out = grid_dir / "out"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "xnli-rs-da-seed0",
        "xnli-rs-da-seed1",
        "xnli-standard-seed0",
        "xnli-standard-seed1",
    ]
    assert sorted(p.name for p in (out / "attacks").iterdir()) == ["xnli-rs-da-seed0", "xnli-standard-seed0"]
    assert (out / "generalized" / "xnli-standard-seed0" / "results.json").exists()
    assert (out / "logs" / "xnli-rs-da-seed1.log").stat().st_size > 0
    report = json.loads((out / "report" / "report.json").read_text())
    task = report["tasks"]["xnli"]
    assert task["methods"] == ["standard", "rs-da"] and task["baseline"] == "standard"
    scores = task["scores"]["rs-da"]["accuracy"]
    assert scores["average"]["n"] == 2 and scores["sw"]["std"] is not None
    diff = task["differences"]["rs-da"]["accuracy"]
    for group in ("de", "sw", "average", "target_average", "low_resource_average"):
        assert diff[group]["ci_low"] <= diff[group]["difference"] <= diff[group]["ci_high"]
        assert 0.0 < diff[group]["p_value"] <= 1.0 and diff[group]["n_seeds"] == 2
    # The paired difference of the average is the difference of the runs' own averages.
    means = {label: task["scores"][label]["accuracy"]["average"]["mean"] for label in ("standard", "rs-da")}
    assert diff["average"]["difference"] == pytest.approx(means["rs-da"] - means["standard"])
    assert task["attack"]["standard"]["budgets"] == [0.0, 0.3] and task["attack"]["standard"]["seeds"] == [0]
    assert set(task["attack"]["standard"]["groups"]) == {"high-resource", "low-resource"}
    assert task["generalized"]["rs-da"]["languages"] == ["en", "sw"]
    assert task["cost"]["standard"]["ratio_to_baseline"] == pytest.approx(1.0)
    oracle = task["oracle"]
    assert oracle["available"] is True and oracle["dev_examples"] == {"de": 3, "zh": 3, "sw": 3}
    for label in ("standard", "rs-da"):
        runs = [json.loads((out / "runs" / f"xnli-{label}-seed{s}" / "results.json").read_text()) for s in (0, 1)]
        sw = [r["oracle"]["languages"]["sw"]["accuracy"] for r in runs]
        assert oracle["scores"][label]["accuracy"]["sw"]["values"] == sw
        change = [r["oracle"]["target_average"]["accuracy"] - r["target_average"]["accuracy"] for r in runs]
        assert oracle["change"][label]["accuracy"]["target_average"]["values"] == pytest.approx(change)
    assert oracle["differences"]["rs-da"]["accuracy"]["target_average"]["n"] == 2
    md = (out / "report" / "report.md").read_text()
    assert "Oracle selection: each target language" in md and "hierarchical bootstrap" in md and "![xnli forest](figures/xnli-forest.png)" in md
    csv_lines = (out / "report" / "report.csv").read_text().splitlines()
    assert any(line.startswith("xnli,oracle_difference,rs-da,accuracy,target_average,") for line in csv_lines)
    assert csv_lines[0].startswith("task,kind,method") and any(",difference,rs-da,accuracy,average," in line for line in csv_lines)
    for kind in ("languages", "robustness", "generalized", "forest", "attack-forest", "cost"):
        png = out / "report" / "figures" / f"xnli-{kind}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_differences_under_attack_pair_the_attacked_rows_and_agree_with_the_attacks_own_accuracies(grid_dir: Path) -> None:
    out = grid_dir / "out"
    report = json.loads((out / "report" / "report.json").read_text())
    ad = report["tasks"]["xnli"]["attack_differences"]["rs-da"]
    assert ad["seeds"] == [0] and ad["budgets"] == [0.0, 0.3]
    attacks = {label: json.loads((out / "attacks" / f"xnli-{label}-seed0" / "attack.json").read_text()) for label in ("standard", "rs-da")}
    langs = ad["languages"]
    assert set(ad["groups"]) == {"attacked_average", "high-resource", "low-resource"} and ad["groups"]["attacked_average"] == langs

    def accuracy(label: str, lang: str, budget: str) -> float:
        return attacks[label]["languages"][lang]["budgets"][budget]["accuracy"]

    for lang in langs:
        for budget in ("0", "0.3"):
            expected = accuracy("rs-da", lang, budget) - accuracy("standard", lang, budget)
            d = ad["accuracy"][budget][lang]
            assert d["difference"] == pytest.approx(expected) and d["ci_low"] <= d["difference"] <= d["ci_high"]
            assert d["n_examples"] == attacks["standard"]["languages"][lang]["budgets"][budget]["count"]
        lost = (accuracy("rs-da", lang, "0") - accuracy("rs-da", lang, "0.3")) - (accuracy("standard", lang, "0") - accuracy("standard", lang, "0.3"))
        assert ad["lost_accuracy"]["0.3"][lang]["difference"] == pytest.approx(lost)
    assert "0" not in ad["lost_accuracy"]  # nothing is lost at budget 0
    mean = np.mean([accuracy("rs-da", lang, "0.3") - accuracy("standard", lang, "0.3") for lang in langs])
    assert ad["accuracy"]["0.3"]["attacked_average"]["difference"] == pytest.approx(mean)
    md = (out / "report" / "report.md").read_text()
    assert "### Under attack: difference from standard" in md and "| attacked languages (" in md
    csv_lines = (out / "report" / "report.csv").read_text().splitlines()
    assert any(line.startswith("xnli,attack_difference,rs-da,accuracy,attacked_average,0.3,1,") for line in csv_lines)
    assert any(line.startswith("xnli,attack_lost_difference,rs-da,accuracy,low-resource,0.3,1,") for line in csv_lines)


def test_an_attack_without_its_records_or_with_a_bad_record_is_named(grid_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "out"
    shutil.copytree(grid_dir / "out", root)
    records = root / "attacks" / "xnli-rs-da-seed0" / "attack-sw.jsonl"
    lines = records.read_text().splitlines()
    records.write_text("\n".join([lines[0], '{"id": "x", "budget": 0.3}', *lines[1:]]) + "\n")
    with pytest.raises(ReportError, match=r"attack-sw\.jsonl:2: not an attack record"):
        build_report([root], tmp_path / "report", figures=False)
    records.unlink()
    with pytest.raises(ReportError, match=r"attack-sw\.jsonl: missing"):
        build_report([root], tmp_path / "report", figures=False)


def test_runs_without_oracle_rows_say_the_oracle_is_not_available(grid_dir: Path, tmp_path: Path) -> None:
    out = grid_dir / "out"
    for name in ("xnli-standard-seed0", "xnli-rs-da-seed0"):
        shutil.copytree(out / "runs" / name, tmp_path / name)
    path = tmp_path / "xnli-rs-da-seed0" / "results.json"
    results = json.loads(path.read_text())
    del results["oracle"]
    path.write_text(json.dumps(results))
    report = build_report([tmp_path / "xnli-standard-seed0", tmp_path / "xnli-rs-da-seed0"], tmp_path / "report", figures=False)
    oracle = report["tasks"]["xnli"]["oracle"]
    assert oracle["available"] is False and "1 of 2 runs were trained without oracle dev rows" in oracle["reason"]
    assert "**not available**" in (tmp_path / "report" / "report.md").read_text()


def test_every_figure_labels_its_axes_and_names_languages_and_methods(grid_dir: Path) -> None:
    report = json.loads((grid_dir / "out" / "report" / "report.json").read_text())
    figures = task_figures("xnli", report["tasks"]["xnli"])
    assert set(figures) == {"languages", "robustness", "generalized", "forest", "attack-forest", "cost"}
    for kind, fig in figures.items():
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        for ax in axes:
            assert ax.get_xlabel() and ax.get_ylabel() or kind in ("forest", "attack-forest"), (kind, ax.get_title())
            assert ax.get_xlabel(), kind
            assert ax.get_title(), kind
        ticks = {t.get_text().split("\n")[0] for ax in axes for t in [*ax.get_xticklabels(), *ax.get_yticklabels()]}
        legends = [text.get_text().split(" (")[0] for ax in axes if (legend := ax.get_legend()) for text in legend.get_texts()]
        if kind in ("languages", "robustness"):
            assert {"standard", "rs-da"} <= set(legends), kind
        if kind in ("forest", "attack-forest", "cost"):
            assert "rs-da" in ticks, kind
        if kind in ("languages", "generalized"):
            assert {"en", "sw"} <= ticks, kind
    assert "%" in figures["robustness"].axes[0].get_xlabel() and "%" in figures["robustness"].axes[0].get_ylabel()
    assert "points" in figures["forest"].axes[0].get_xlabel() and "points" in figures["attack-forest"].axes[0].get_xlabel()
    assert [t.get_text() for t in figures["attack-forest"].legends[0].get_texts()] == ["budget 0%", "budget 30%"]
    colorbars = [ax for ax in figures["generalized"].axes if ax.get_label() == "<colorbar>"]
    assert colorbars and "%" in colorbars[0].get_ylabel()


def test_report_on_the_folders_themselves_matches_the_grid_report(grid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = grid_dir / "out"
    folders = [str(p) for sub in ("runs", "attacks", "generalized") for p in sorted((out / sub).iterdir())]
    assert main(["report", *folders, "--output-dir", str(tmp_path / "r")]) == 0
    assert "report on xnli" in capsys.readouterr().out
    by_folders = json.loads((tmp_path / "r" / "report.json").read_text())
    by_grid = json.loads((out / "report" / "report.json").read_text())
    assert without_cost(by_folders)["tasks"] == without_cost(by_grid)["tasks"]


def test_a_half_finished_grid_runs_only_what_is_missing(grid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "out"
    shutil.copytree(grid_dir / "out", root)
    shutil.rmtree(root / "runs" / "xnli-rs-da-seed1")  # never trained
    (root / "attacks" / "xnli-standard-seed0" / "attack.json").unlink()  # trained, attack cut off
    untouched = {p: p.stat().st_mtime_ns for p in (root / "runs" / "xnli-standard-seed1").iterdir() if p.is_file()}
    untouched[root / "attacks" / "xnli-rs-da-seed0" / "attack.json"] = (root / "attacks" / "xnli-rs-da-seed0" / "attack.json").stat().st_mtime_ns
    calls: dict[str, list[str]] = {"train": [], "attack": []}
    real_train, real_attack = runner_module.train, runner_module._attack

    def counting_train(config: Any, **kw: Any) -> Any:
        calls["train"].append(Path(config.output_dir).name)
        return real_train(config, **kw)

    def counting_attack(cell: Any, *a: Any) -> None:
        calls["attack"].append(cell.name)
        real_attack(cell, *a)

    monkeypatch.setattr(runner_module, "train", counting_train)
    monkeypatch.setattr(runner_module, "_attack", counting_attack)
    record = root / "cells" / "xnli-standard-seed0.json"
    before = json.loads(record.read_text())["stages"]
    grid = load_grid(write_grid(tmp_path / "grid.toml", _model_of(grid_dir)), output_dir=root)
    assert {c.name: cell_status(c, root) for c in grid.cells} == {
        "xnli-standard-seed0": "attack",
        "xnli-standard-seed1": "done",
        "xnli-rs-da-seed0": "done",
        "xnli-rs-da-seed1": "train",
    }
    outcome = run_grid(grid)
    assert calls == {"train": ["xnli-rs-da-seed1"], "attack": ["xnli-standard-seed0"]}
    assert outcome.already_done == 2 and sorted(outcome.ran) == ["xnli-rs-da-seed1", "xnli-standard-seed0"]
    assert all(p.stat().st_mtime_ns == t for p, t in untouched.items())
    # The cell's record keeps the stages that had finished; the attack's is new.
    after = json.loads(record.read_text())
    assert set(after["stages"]) == set(before) and after["stages"]["train"] == before["train"]
    assert after["stages"]["attack"] != before["attack"]
    assert after["seconds"] == pytest.approx(sum(after["stages"].values()), abs=0.05)
    expected = json.loads((grid_dir / "out" / "report" / "report.json").read_text())
    assert without_cost(outcome.report)["tasks"] == without_cost(expected)["tasks"]  # type: ignore[arg-type]


class Killed(Exception):
    pass


def test_a_killed_grid_continues_to_the_same_report(grid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rs-da seed 0 is killed after its first step (and checkpoint); the grid goes on
    without it, says so, and the same command, in 2 processes, resumes it exactly."""
    root = tmp_path / "out"
    shutil.copytree(grid_dir / "out", root)
    for sub in ("runs", "attacks", "generalized"):
        shutil.rmtree(root / sub / "xnli-rs-da-seed0")
    (root / "cells" / "xnli-rs-da-seed0.json").unlink()
    real_train = runner_module.train

    def killed_train(config: Any, **kw: Any) -> Any:
        def kill(step: int) -> None:
            if step == 1:
                raise Killed("killed at step 1")

        return real_train(config, on_step=kill, **kw)

    monkeypatch.setattr(runner_module, "train", killed_train)
    path = write_grid(tmp_path / "grid.toml", _model_of(grid_dir))
    with pytest.raises(GridError, match="1 of 4 cells failed .xnli-rs-da-seed0"):
        run_grid(load_grid(path, output_dir=root))
    assert (root / "runs" / "xnli-rs-da-seed0" / "resume").is_dir()
    assert not (root / "runs" / "xnli-rs-da-seed0" / "results.json").exists()
    # The cut-off piece's training time, as its checkpoint counted it, made large so
    # that the finished cell's record shows whether it counts the piece.
    state_path = root / "runs" / "xnli-rs-da-seed0" / "resume" / "state.json"
    state = json.loads(state_path.read_text())
    assert state["state"]["seconds"]["train"] > 0
    state["state"]["seconds"]["train"] = 5000.0
    state_path.write_text(json.dumps(state))
    assert checkpointed_train_seconds(root / "runs" / "xnli-rs-da-seed0") == 5000.0
    partial = json.loads((root / "report" / "report.json").read_text())
    assert "1 unfinished of 4 cells" in " ".join(partial["notes"])
    monkeypatch.setattr(runner_module, "train", real_train)
    # Two jobs: the cell runs in a spawned process, with the thread count it started
    # with (not cores / 2): an exact resume needs it.
    grid = load_grid(path, output_dir=root, jobs=2)
    started = next(c for c in grid.cells if c.name == "xnli-rs-da-seed0")
    assert started.config.threads == _saved_threads(root / "runs" / started.name)
    outcome = run_grid(grid, jobs=2)
    assert outcome.ran == ["xnli-rs-da-seed0"]
    expected = json.loads((grid_dir / "out" / "report" / "report.json").read_text())
    assert without_cost(outcome.report)["tasks"] == without_cost(expected)["tasks"]  # type: ignore[arg-type]
    assert without_cost(outcome.report)["notes"] == []  # type: ignore[arg-type]
    record = json.loads((root / "cells" / "xnli-rs-da-seed0.json").read_text())
    assert 5000 < record["stages"]["train"] < 5000 + 600
    assert record["seconds"] == pytest.approx(sum(record["stages"].values()), abs=1.0)


def test_checkpointed_train_seconds_is_zero_without_a_readable_checkpoint(tmp_path: Path) -> None:
    assert checkpointed_train_seconds(tmp_path / "none") == 0.0
    (tmp_path / "resume").mkdir()
    (tmp_path / "resume" / "state.json").write_text("{not json")
    assert checkpointed_train_seconds(tmp_path) == 0.0
    (tmp_path / "resume" / "state.json").write_text(json.dumps({"state": {"seconds": {"train": 12.5}}}))
    assert checkpointed_train_seconds(tmp_path) == 12.5


def test_compare_dry_run_lists_cells_and_runs_nothing(grid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_grid(tmp_path / "grid.toml", _model_of(grid_dir))
    assert main(["compare", "--config", str(path), "--output-dir", str(tmp_path / "fresh"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "train        xnli-rs-da-seed1" in out and "4 of 4 cells to run" in out
    assert not (tmp_path / "fresh").exists()
    assert main(["compare", "--config", str(path), "--output-dir", str(grid_dir / "out"), "--dry-run"]) == 0
    assert "0 of 4 cells to run" in capsys.readouterr().out


def _model_of(grid_dir: Path) -> str:
    text = (grid_dir / "grid.toml").read_text()
    return text.split('model = "', 1)[1].split('"', 1)[0]


def _saved_threads(run_dir: Path) -> int:
    from robust_xlt.training import load_toml

    return int(load_toml(run_dir / "config.toml")["threads"])


def test_generalized_matrices_of_the_old_layout_are_read() -> None:
    # Files written before the per-metric layout hold accuracy and its averages only.
    from robust_xlt.compare.report import _with_averages

    old = {"languages": ["en", "de"], "accuracy": {"en": {"en": 60.0, "de": 50.0}, "de": {"en": 40.0, "de": 55.0}},
           "count": 10, "same_average": 57.5, "mixed_average": 45.0}
    new = _with_averages(old)
    assert new["metrics"] == ["accuracy"]
    assert new["averages"]["accuracy"] == {"same": 57.5, "mixed": 45.0}
    assert _with_averages(new) is new


def test_a_grid_runs_under_a_launcher_of_two_processes(grid_dir: Path, tmp_path: Path) -> None:
    """`robust-xlt compare` under torchrun: every cell's training and attack shared
    by 2 processes (gloo), process 0 writing; the same cells, attacks, evaluations
    and report as the 1-process grid."""
    import os
    import subprocess
    import sys

    grid = grid_dir / "grid.toml"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "robust_xlt.cli", "compare", "--config", str(grid), "--output-dir", str(tmp_path / "out"),
    ]  # fmt: skip
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    one, two = grid_dir / "out", tmp_path / "out"
    for sub in ("runs", "attacks", "generalized", "cells"):
        assert sorted(p.name for p in (two / sub).iterdir()) == sorted(p.name for p in (one / sub).iterdir()), sub
    for run in (two / "runs").iterdir():
        results = json.loads((run / "results.json").read_text())
        assert results["languages"] and "oracle" in results
        assert json.loads((run / "resume" / "state.json").read_text()) if (run / "resume").exists() else True
    report = json.loads((two / "report" / "report.json").read_text())
    assert report["tasks"]["xnli"]["methods"] == ["standard", "rs-da"]
    assert done.stdout.count("report:") == 1, "process 0 alone reports"


# --------------------------------------------------------------------- collect


def _half_finished_copy(grid_dir: Path, root: Path) -> Path:
    """The tiny grid with one cell's attack being redone (attack.json gone) and one
    training cut off (results.json gone)."""
    shutil.copytree(grid_dir / "out", root)
    (root / "attacks" / "xnli-standard-seed0" / "attack.json").unlink()
    (root / "runs" / "xnli-rs-da-seed1" / "results.json").unlink()
    return root


def _top_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_collect_copies_the_finished_cells_without_weights_and_compare_continues_from_them(
    grid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from robust_xlt.compare.collect import WEIGHT_SUFFIXES

    root = _half_finished_copy(grid_dir, tmp_path / "grid")
    dest = tmp_path / "collected"
    assert main(["collect", str(root), str(dest)]) == 0
    out = capsys.readouterr().out
    assert "left out: xnli-standard-seed0 (trained, its attack not finished)" in out
    assert "left out: xnli-rs-da-seed1 (training cut off or still running)" in out
    assert "2 finished cells in" in out and "2 left out" in out
    assert sorted(p.name for p in (dest / "runs").iterdir()) == ["xnli-rs-da-seed0", "xnli-standard-seed1"]
    assert sorted(p.name for p in (dest / "cells").iterdir()) == ["xnli-rs-da-seed0.json", "xnli-standard-seed1.json"]
    for cell in ("xnli-rs-da-seed0", "xnli-standard-seed1"):
        assert _top_files(dest / "runs" / cell) == _top_files(root / "runs" / cell)
        assert (dest / "logs" / f"{cell}.log").read_bytes() == (root / "logs" / f"{cell}.log").read_bytes()
    assert _top_files(dest / "attacks" / "xnli-rs-da-seed0") == _top_files(root / "attacks" / "xnli-rs-da-seed0")
    assert (dest / "generalized" / "xnli-rs-da-seed0" / "results.json").is_file()
    # Never weights, nor the run's subfolders (best/, resume/), the lock or the report.
    everything = [p for p in dest.rglob("*")]
    assert not [p for p in everything if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)]
    assert not [p for p in everything if p.is_dir() and p.parent.parent.parent == dest], "no subfolder of a cell's folder"
    assert not (dest / ".robust-xlt.lock").exists() and not (dest / "report").exists()
    # Again: nothing to copy.
    assert main(["collect", str(root), str(dest)]) == 0
    assert "(0 files copied, " in capsys.readouterr().out
    # On "another machine": the collected folder, the same grid file; compare runs
    # only the two cells left out and ends at the whole grid's report.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(dest, elsewhere)
    outcome = run_grid(load_grid(write_grid(tmp_path / "grid.toml", _model_of(grid_dir)), output_dir=elsewhere))
    assert sorted(outcome.ran) == ["xnli-rs-da-seed1", "xnli-standard-seed0"] and outcome.already_done == 2
    expected = json.loads((grid_dir / "out" / "report" / "report.json").read_text())
    assert without_cost(outcome.report)["tasks"] == without_cost(expected)["tasks"]  # type: ignore[arg-type]


class CopyKilled(Exception):
    pass


def _collect_killed_at(root: Path, dest: Path, kill_at: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    """collect_grid with its kill_at-th file copy dying: its outcome, or None when cut off."""
    from robust_xlt.compare import collect as collect_module

    real_copy = collect_module._copy_file
    copies = 0

    def dying_copy(source: Path, target: Path, outcome: Any) -> None:
        nonlocal copies
        copies += 1
        if copies == kill_at:
            raise CopyKilled
        real_copy(source, target, outcome)

    with monkeypatch.context() as patch:
        patch.setattr(collect_module, "_copy_file", dying_copy)
        try:
            return collect_module.collect_grid(root, dest)
        except CopyKilled:
            return None


def test_a_collect_killed_at_any_file_leaves_no_cell_that_looks_finished_but_is_not(
    grid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robust_xlt.compare import collect as collect_module

    root = grid_dir / "out"
    whole = collect_module.collect_grid(root, tmp_path / "whole")
    cells = load_grid(write_grid(tmp_path / "grid.toml", _model_of(grid_dir)), output_dir=tmp_path / "unused").cells
    for kill_at in range(1, whole.files_copied):
        dest = tmp_path / f"killed-{kill_at}"
        assert _collect_killed_at(root, dest, kill_at, monkeypatch) is None, "cut off"
        # Every cell compare would take as finished in the cut-off copy is whole there.
        for cell in cells:
            if cell_status(cell, dest) == "done":
                for stage in (cell.run_dir(dest), cell.attack_dir(dest), cell.generalized_dir(dest)):
                    if stage is not None:
                        relative = stage.relative_to(dest)
                        assert _top_files(stage) == _top_files(root / relative), (kill_at, str(relative))
        assert not list(dest.rglob(".*.tmp")), "no half-copied file"
        # The same collect again completes it.
        again = collect_module.collect_grid(root, dest)
        assert again.copied == whole.copied and again.files_copied + again.files_unchanged == whole.files_copied


def test_collecting_a_stage_the_grid_redid_replaces_it_whole_even_when_killed(
    grid_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from robust_xlt.compare import collect as collect_module

    root = tmp_path / "grid"
    shutil.copytree(grid_dir / "out", root)
    before = tmp_path / "before"
    collect_module.collect_grid(root, before)
    # The grid redoes one cell's attack, and the redone stage writes one file fewer.
    attack = root / "attacks" / "xnli-standard-seed0"
    dropped = sorted(p for p in attack.iterdir() if p.is_file() and p.name != "attack.json")[0]
    dropped.unlink()
    record = json.loads((attack / "attack.json").read_text())
    record["redone"] = True
    (attack / "attack.json").write_text(json.dumps(record))
    redone = _top_files(attack)
    old = _top_files(before / "attacks" / "xnli-standard-seed0")
    cell = next(c for c in load_grid(write_grid(tmp_path / "grid.toml", _model_of(grid_dir)), output_dir=root).cells
                if c.name == "xnli-standard-seed0")
    kill_at = 1
    while True:
        dest = tmp_path / f"killed-{kill_at}"
        shutil.copytree(before, dest)
        outcome = _collect_killed_at(root, dest, kill_at, monkeypatch)
        if outcome is None:
            # Cut off: the stage is the old one whole (not reached yet), the new one
            # whole, or marked unfinished; never a mix under a finishing file.
            here = _top_files(dest / "attacks" / "xnli-standard-seed0")
            assert here in (old, redone) or (cell_status(cell, dest) == "attack" and "attack.json" not in here), kill_at
            kill_at += 1
            continue
        break
    assert kill_at > 1, "the collect copied something, so some kill point was tried"
    # Uncut (the last try): exactly the grid's redone stage, the dropped file gone.
    assert _top_files(dest / "attacks" / "xnli-standard-seed0") == redone
    assert outcome.files_removed == 1 and not (dest / "attacks" / "xnli-standard-seed0" / dropped.name).exists()
    assert cell_status(cell, dest) == "done"


def test_collect_refuses_what_it_cannot_do_and_says_why(grid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from robust_xlt.folder_lock import FolderLock

    assert main(["collect", str(tmp_path / "nothing"), str(tmp_path / "dest")]) == 2
    assert "no grid.json, so not a robust-xlt compare folder" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()
    assert main(["collect", str(grid_dir / "out"), str(grid_dir / "out" / "copy")]) == 2
    assert "that is the grid folder" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "grid.json").write_text('{"cells": [{"name": "x"}]}')
    assert main(["collect", str(bad), str(tmp_path / "dest")]) == 2
    assert "bad/grid.json: cell 1 has no name or run folder" in capsys.readouterr().err
    with FolderLock(tmp_path / "busy", "a test"):
        assert main(["collect", str(grid_dir / "out"), str(tmp_path / "busy")]) == 2
        assert "is being written by another process" in capsys.readouterr().err
