"""`robust-xlt attack` end to end on the tiny model and the smoke sample: its three
outputs, budget 0 equal to `robust-xlt eval`, budgets kept in every record, success
rates over the examples right before the attack, coverage from the adversary's space,
output folders it must not write into, and clear errors for bad flags.

The tiny BERT is rewired into a bag of words (test_adversary.bag_of_words), so single
substitutions move its predictions, and its head fitted to the sample's gold labels,
so most examples start right and the attack has something to break.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from test_adversary import bag_of_words

from robust_xlt import load_lexicon
from robust_xlt.adversary import AttackConfig, build_space
from robust_xlt.cli import main
from robust_xlt.data import PairExample
from robust_xlt.data.smoke import SAMPLE_DIR, sample_path
from robust_xlt.evaluation import lexicon_coverage
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.tasks import get_task

LANGS = ("en", "de", "zh", "sw")
BUDGETS = (0.0, 0.1, 0.3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Tiny forward passes are dominated by thread hand-offs on a loaded machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved XNLI model folder whose robust_xlt.toml, as a training run's best/ has
    one, sets a max length the attack must take as its default."""
    base = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-base"), seed=0)
    torch.manual_seed(0)
    task = get_task("xnli")
    model, tokenizer = task.load_model(str(base))
    bag_of_words(model)
    loaded = [ex for lang in LANGS for ex in task.load_file(sample_path("xnli", "dev", lang), lang)]
    examples = [ex for ex in loaded if isinstance(ex, PairExample)]
    assert len(examples) == len(loaded)  # XNLI files hold pairs only
    enc = tokenizer([ex.text_a for ex in examples], [ex.text_b for ex in examples], padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        pooled = model.bert(**enc).pooler_output
    gold = torch.tensor([ex.label for ex in examples])
    optimizer = torch.optim.Adam(model.classifier.parameters(), lr=0.05)
    for _ in range(300):  # a logistic regression on fixed features: right on 33 of 36
        loss = torch.nn.functional.cross_entropy(model.classifier(pooled), gold)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    folder = tmp_path_factory.mktemp("tiny-xnli")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "robust_xlt.toml").write_text('[run]\ntask = "xnli"\n[input]\nmax_length = 64\n')
    return folder


def attack_argv(model: Path, out: Path, *extra: str) -> list[str]:
    return ["attack", "--model-dir", str(model), "--output-dir", str(out), "--threads", "1", *extra]


@pytest.fixture(scope="module")
def outputs(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One attack at three budgets and one eval of the same model, both on every
    sample language."""
    root = tmp_path_factory.mktemp("attack")
    budgets = ",".join(f"{b:g}" for b in BUDGETS)
    assert main(attack_argv(model_dir, root / "attack", "--budgets", budgets, "--samples", "2")) == 0
    assert main(["eval", "--model-dir", str(model_dir), "--output-dir", str(root / "eval"), "--threads", "1"]) == 0
    return {"root": root, "attack": root / "attack", "eval": root / "eval"}


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_the_three_outputs(outputs: dict[str, Any]) -> None:
    out = outputs["attack"]
    results = json.loads((out / "attack.json").read_text())
    assert results["command"] == "attack" and results["metrics"] == ["accuracy"]
    assert results["budgets"] == list(BUDGETS) and list(results["languages"]) == list(LANGS)
    assert results["config"]["max_length"] == 64  # from the model folder's robust_xlt.toml
    assert results["attack"]["mode"] == "mixed" and "budget" not in results["attack"]
    for lang in LANGS:
        for key in ("0", "0.1", "0.3"):
            row = results["languages"][lang]["budgets"][key]
            for name in ("accuracy", "count", "attacked", "successes", "success_rate", "mean_changed_share", "mean_queries", "samples"):
                assert name in row, (lang, key, name)
            assert len(row["samples"]) <= 2
        records = jsonl(out / f"attack-{lang}.jsonl")
        assert [r["budget"] for r in records] == [b for b in BUDGETS for _ in range(row["count"])]
        for name in ("id", "success", "changed_share", "queries", "texts", "edits", "after"):
            assert name in records[0]
    # The attack breaks the bag-of-words model somewhere, and shows how.
    assert sum(results["languages"][lang]["budgets"]["0.3"]["successes"] for lang in LANGS) > 0
    shown = [s for lang in LANGS for s in results["languages"][lang]["budgets"]["0.3"]["samples"]]
    assert shown and all(s["edits"] and s["original"] != s["adversarial"] for s in shown)
    md = (out / "attack.md").read_text()
    assert "| language | budget 0 | budget 0.1 | budget 0.3 |" in md
    assert "| sw (low-resource) |" in md and "| en (source) |" in md
    for title in ("accuracy under attack", "attack success rate", "share of words changed", "queries", "lexicon coverage"):
        assert title in md, title


def test_budget_zero_equals_eval(outputs: dict[str, Any]) -> None:
    attacked = json.loads((outputs["attack"] / "attack.json").read_text())
    evaluated = json.loads((outputs["eval"] / "results.json").read_text())
    for lang in LANGS:
        row = attacked["languages"][lang]["budgets"]["0"]
        assert (row["accuracy"], row["count"]) == (evaluated["languages"][lang]["accuracy"], evaluated["languages"][lang]["count"])
        assert row["successes"] == 0 and row["mean_changed_share"] == 0.0
        records = [r for r in jsonl(outputs["attack"] / f"attack-{lang}.jsonl") if r["budget"] == 0.0]
        predictions = jsonl(outputs["eval"] / f"predictions-{lang}.jsonl")
        assert [r["after"] for r in records] == predictions
        assert all(r["queries"] == 1 and not r["edits"] and not r["success"] for r in records)


def test_budgets_are_never_exceeded(outputs: dict[str, Any]) -> None:
    for lang in LANGS:
        for r in jsonl(outputs["attack"] / f"attack-{lang}.jsonl"):
            assert r["max_changes"] == math.floor(r["budget"] * r["words"] + 1e-9)
            assert r["changed"] == len(r["edits"]) <= r["max_changes"]
            assert r["changed_share"] <= r["budget"] + 1e-12
            assert len({(e["slot"], e["start"]) for e in r["edits"]}) == r["changed"]


def test_success_rate_is_over_examples_right_before(outputs: dict[str, Any]) -> None:
    results = json.loads((outputs["attack"] / "attack.json").read_text())
    for lang in LANGS:
        right = {p["id"] for p in jsonl(outputs["eval"] / f"predictions-{lang}.jsonl") if p["correct"]}
        records = jsonl(outputs["attack"] / f"attack-{lang}.jsonl")
        for budget in BUDGETS:
            row = results["languages"][lang]["budgets"][f"{budget:g}"]
            at = [r for r in records if r["budget"] == budget]
            assert {r["id"] for r in at if not r["skipped"]} == right
            successes = [r for r in at if r["success"]]
            assert all(r["id"] in right and not r["after"]["correct"] for r in successes)
            assert (row["attacked"], row["successes"]) == (len(right), len(successes))
            assert row["success_rate"] == pytest.approx(100.0 * len(successes) / len(right) if right else 0.0)
            # The model keeps what the attack did not break, and nothing else.
            assert row["accuracy"] == pytest.approx(100.0 * (len(right) - len(successes)) / len(at))


def test_each_language_is_attacked_in_its_own_words(outputs: dict[str, Any]) -> None:
    results = json.loads((outputs["attack"] / "attack.json").read_text())
    task, lexicon = get_task("xnli"), load_lexicon([SAMPLE_DIR / "lexicon.tsv"])
    config = AttackConfig(mode="mixed")
    for lang in LANGS:
        coverage = results["languages"][lang]["coverage"]
        records = jsonl(outputs["attack"] / f"attack-{lang}.jsonl")
        evaluated = {r["id"] for r in records}  # the rows the dev split left to evaluate
        examples = [ex for ex in task.load_file(sample_path("xnli", "dev", lang), lang) if ex.id in evaluated]
        spaces = build_space(task, examples, lexicon, config)
        eligible = sum(len({(s.slot, s.start) for s in space.substitutions}) for space in spaces)
        # The core's counts and the adversary's space agree on what can change.
        assert (coverage["eligible"], coverage["words"]) == (eligible, sum(space.words for space in spaces))
        assert coverage == lexicon_coverage(task, examples, lexicon, config)
        assert 0 < coverage["coverage"] <= coverage["content_coverage"] <= 100
        # Synonyms of its own language and translations out of it (the sample's lexicon
        # pairs every language with English).
        assert lang in coverage["by_lang"] and set(coverage["by_lang"]) <= set(LANGS)
        for r in records:
            assert all(e["lang"] in coverage["by_lang"] for e in r["edits"])
    assert set(results["languages"]["sw"]["coverage"]["by_lang"]) == {"sw", "en"}


def test_output_folders_it_must_not_write_into(model_dir: Path, outputs: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    root: Path = outputs["root"]
    quick = ("--langs", "de", "--max-eval-examples", "3", "--budgets", "0,0.2")
    run = root / "run"
    run.mkdir()
    (run / "config.toml").write_text("")
    assert main(attack_argv(model_dir, run, *quick)) == 2
    assert "holds a training run" in capsys.readouterr().err
    assert sorted(p.name for p in run.iterdir()) == ["config.toml"]

    # Beside eval's results: those stay as they were.
    shared = outputs["eval"]
    before = {p.name: p.read_bytes() for p in shared.iterdir()}
    assert main(attack_argv(model_dir, shared, *quick)) == 0
    assert all((shared / name).read_bytes() == data for name, data in before.items())
    assert sorted(p.name for p in shared.glob("attack-*.jsonl")) == ["attack-de.jsonl", "attack-en.jsonl"]
    # A previous attack is replaced only when asked, and leaves no stale records.
    previous = (shared / "attack.json").read_bytes()
    assert main(attack_argv(model_dir, shared, "--langs", "sw", "--max-eval-examples", "3", "--budgets", "0")) == 1
    assert "already holds an attack" in capsys.readouterr().err and (shared / "attack.json").read_bytes() == previous
    assert main(attack_argv(model_dir, shared, "--langs", "sw", "--max-eval-examples", "3", "--budgets", "0", "--overwrite")) == 0
    assert sorted(p.name for p in shared.glob("attack-*.jsonl")) == ["attack-en.jsonl", "attack-sw.jsonl"]
    assert json.loads((shared / "attack.json").read_text())["budgets"] == [0.0]


@pytest.mark.parametrize(
    ("argv", "status", "fragment"),
    [
        (["--budgets", "0,x"], 2, "--budgets: 'x' is not a number"),
        (["--budgets", "0,1.5"], 2, "--budgets: 1.5 is not a share of words in [0, 1]"),
        (["--budgets", "0.1,0.1"], 2, "--budgets lists 0.1 twice"),
        (["--budgets", ","], 2, "--budgets is empty"),
        (["--beam-width", "0"], 2, "--beam-width must be at least 1, got 0"),
        (["--min-similarity", "2"], 2, "--min-similarity must be a cosine in [-1, 1], got 2.0"),
        (["--min-similarity", "close"], 2, "--min-similarity must be a cosine"),
        (["--target-langs", "fr"], 2, "--target-langs: the lexicon has no words in fr (it has de, en, sw, zh)"),
        (["--target-langs", "xx"], 2, 'unknown language code "xx"'),
        (["--mode", "synonym", "--target-langs", "de"], 2, "no effect with --mode synonym"),
        (["--samples", "-1"], 2, "--samples must be 0 or more"),
        (["--eval-langs", "fr"], 2, "the smoke sample has no language fr"),
        (["--eval-data", "e-{lang}.tsv"], 2, "attack needs --lexicon"),
        (["--lexicon", "nowhere/lex.tsv"], 1, "lexicon file not found: nowhere/lex.tsv"),
    ],
)
def test_bad_flags_fail_in_one_line(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], status: int, fragment: str
) -> None:
    assert main(attack_argv(model_dir, tmp_path / "out", *argv)) == status
    err = capsys.readouterr().err
    assert err.startswith("robust-xlt attack: error: ") and fragment in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_missing_model_and_bad_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(attack_argv(tmp_path / "none", tmp_path / "out")) == 1
    assert "model folder not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(attack_argv(tmp_path, tmp_path / "out", "--mode", "random"))
    assert info.value.code == 2 and "invalid choice: 'random'" in capsys.readouterr().err


def test_help_groups_the_attack_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["attack", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "attack: the adversary" in text and "--lr" not in text
    for flag in ("--mode", "--budgets", "--lexicon", "--target-langs", "--beam-width", "--ranking", "--min-similarity", "--max-eval-examples", "--device"):
        assert flag in text, flag
    assert "[default: 0,0.1,0.2,0.4]" in text and "[default: mixed]" in text


# ---- extractive QA: F1 and EM under attack ---------------------------------------


def test_qa_reports_f1_and_em_and_budget_zero_equals_eval(tmp_path: Path) -> None:
    base = make_tiny_model_dir(tmp_path / "base", seed=1)
    torch.manual_seed(1)
    model, tokenizer = get_task("qa").load_model(str(base))
    with torch.no_grad():  # start and end logits that depend on the words
        model.bert.embeddings.position_embeddings.weight.mul_(0.1)
        model.qa_outputs.weight.mul_(50.0)
    folder = tmp_path / "qa-model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    common = ["--task", "qa", "--langs", "sw", "--max-length", "96", "--qa-overlap", "32", "--max-query-length", "32"]
    assert main(attack_argv(folder, tmp_path / "attack", *common, "--budgets", "0,0.3")) == 0
    assert main(["eval", "--model-dir", str(folder), "--output-dir", str(tmp_path / "eval"), "--threads", "1", *common]) == 0
    attacked = json.loads((tmp_path / "attack" / "attack.json").read_text())
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert attacked["metrics"] == ["f1", "exact_match", "lang_f1", "lang_exact_match"]
    for lang in ("en", "sw"):
        zero, hard = attacked["languages"][lang]["budgets"]["0"], attacked["languages"][lang]["budgets"]["0.3"]
        assert {k: zero[k] for k in attacked["metrics"]} == {k: evaluated["languages"][lang][k] for k in attacked["metrics"]}
        assert hard["f1"] <= zero["f1"] + 1e-9
        records = jsonl(tmp_path / "attack" / f"attack-{lang}.jsonl")
        assert [r["after"] for r in records if r["budget"] == 0.0] == jsonl(tmp_path / "eval" / f"predictions-{lang}.jsonl")
        assert all(r["changed"] <= r["max_changes"] for r in records)
    assert "F1 under attack" in (tmp_path / "attack" / "attack.md").read_text()


def _untimed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def test_two_processes_attack_what_one_attacks(model_dir: Path, outputs: dict[str, Any], tmp_path: Path) -> None:
    """Under torchrun each process searches a block of every language's rows and
    process 0 writes: the same attack.json (less timings) and records as one process."""
    import os
    import subprocess
    import sys

    budgets = ",".join(f"{b:g}" for b in BUDGETS)
    argv = attack_argv(model_dir, tmp_path / "two", "--budgets", budgets, "--samples", "2", "--device", "cpu")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "robust_xlt.cli", *argv]
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    one = json.loads((outputs["attack"] / "attack.json").read_text())
    two = json.loads((tmp_path / "two" / "attack.json").read_text())
    for key in ("model", "config"):
        one.pop(key), two.pop(key)
    assert _untimed(two) == _untimed(one)
    for lang in LANGS:
        a = jsonl(outputs["attack"] / f"attack-{lang}.jsonl")
        b = jsonl(tmp_path / "two" / f"attack-{lang}.jsonl")
        assert len(a) == len(b)
        for ra, rb in zip(a, b, strict=True):
            # Scores to float rounding: a block's queries are batched with other rows.
            close = {k for k in ("score_before", "score_after") if abs(ra[k] - rb[k]) <= 1e-5}
            probs = max(abs(x - y) for x, y in zip(ra["after"]["probabilities"], rb["after"]["probabilities"], strict=True))
            assert probs <= 1e-5
            strip = lambda r: {k: v for k, v in r.items() if k not in close and k != "after"}  # noqa: E731
            assert strip(rb) == strip(ra)
            assert {k: v for k, v in rb["after"].items() if k != "probabilities"} == {k: v for k, v in ra["after"].items() if k != "probabilities"}
