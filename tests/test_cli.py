"""The `robust-xlt` command line on the tiny model: train, eval, model prepare, help
texts, config precedence, and clear errors for bad settings."""

from __future__ import annotations

import json
import logging
import re
import tomllib
from pathlib import Path

import pytest

from robust_xlt.cli import main
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training.config import FIELDS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def fast(tiny: str, out: Path) -> list[str]:
    return ["--model", tiny, "--task", "pawsx", "--batch-size", "8", "--max-length", "48", "--threads", "1", "--output-dir", str(out)]


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_train_help_documents_every_flag_and_the_precedence(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "train")
    for name in FIELDS:
        assert f"--{name.replace('_', '-')} " in text, name
    assert "defaults < --config FILE.toml < command-line flags" in text
    for units in ("(steps)", "(examples)", "(tokens)", "(seconds)", "relative", "[default: 32]", "--resume", "[optimization]"):
        assert units in text


def test_eval_and_model_help(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "eval")
    assert "--model-dir" in text and "--eval-data" in text and "--data" in text and "--langs" in text
    assert "--lr" not in text  # eval takes only what decides the evaluation
    assert "e5-small" in help_text(capsys, "model", "prepare")


def test_train_then_eval_then_resume(
    tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    toml = tmp_path / "run.toml"
    toml.write_text('lr = 1e-3\nmax-steps = 5\nmethod = "rs-da"\nlog_every = 1\n')
    with caplog.at_level(logging.INFO, logger="robust_xlt"):
        assert main(["train", "--config", str(toml), "--max-steps", "2", *fast(tiny, out)]) == 0
    printed = capsys.readouterr().out
    assert "Smoke run" in printed and "--train-data" in printed
    assert "| sw (low-resource) |" in printed and "| en (source) |" in printed
    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith("step ")]
    # The first step is warm-up, timed on its own; steady steps report s/step.
    assert re.fullmatch(r"step 1/2 \| loss [\d.]+ \| lr [\d.e+-]+ \| warm-up", progress[0])
    assert re.fullmatch(r"step 2/2 \| loss [\d.]+ \| lr [\d.e+-]+ \| [\d.]+ s/step \| aug [\d.]+%", progress[1])
    assert any("SMOKE RUN" in r.getMessage() for r in caplog.records)

    saved = tomllib.loads((out / "config.toml").read_text())
    assert saved["optimization"]["lr"] == 0.001 and saved["optimization"]["max_steps"] == 2  # TOML < flags
    assert saved["run"]["method"] == ["rs-da"]
    results = json.loads((out / "results.json").read_text())

    assert main(["eval", "--model-dir", str(out / "best"), "--output-dir", str(tmp_path / "eval")]) == 0
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert evaluated["languages"] == results["languages"]
    assert "| de |" in capsys.readouterr().out
    assert main(["eval", "--model-dir", str(out / "best"), "--langs", "de", "--max-eval-examples", "3"]) == 0
    assert "| de | " in capsys.readouterr().out

    assert main(["train", "--config", str(toml), "--max-steps", "2", *fast(tiny, out)]) == 2
    assert "--resume" in capsys.readouterr().err
    # A finished run resumed: its results again, no training.
    assert main(["train", "--resume", "--output-dir", str(out)]) == 0
    assert "| en (source) |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--method", "fancy"], "unknown method 'fancy'"),
        (["--method", "rs-rp,adv"], "rs-rp and adv both perturb"),
        (["--task", "ner"], "unknown task 'ner'"),
        (["--lr", "-1"], "lr must be a positive number, got -1.0"),
        (["--lr", "fast"], "--lr: lr must be a number, got 'fast'"),
        (["--eval-langs", "de,xx"], 'unknown language code "xx"'),
        (["--adv-norm", "l3"], "unknown adv_norm 'l3'"),
        (["--synonym-rate", "1.5"], "synonym_rate must lie in [0, 1], got 1.5"),
        (["--train-data", "t.tsv"], "eval_data is missing"),
        (["--eval-data", "e-{lang}.tsv"], "train_data is missing"),
        (["--eval-langs", "fr"], "the smoke sample has no language fr"),
        (["--train-data", "hub:xnli", "--eval-data", "e-{lang}.tsv"], "bad hub spec 'hub:xnli'"),
    ],
)
def test_bad_settings_exit_2_naming_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    assert main(["train", *argv, "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robust-xlt train: error: ") and fragment in err


def test_unknown_toml_key_names_the_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text("lr = 1e-4\nepoch = 3\n")
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "unknown key 'epoch'" in err


def test_missing_files_exit_1_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = tmp_path / "train.tsv"
    train.write_text("a\tb\t1\n")
    assert main(["train", "--task", "pawsx", "--train-data", str(train), "--eval-data", str(tmp_path / "dev-{lang}.tsv"), "--eval-langs", "de"]) == 1
    assert str(tmp_path / "dev-en.tsv") in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "none.toml")]) == 1
    assert "none.toml" in capsys.readouterr().err
    assert main(["eval", "--model-dir", str(tmp_path / "nothing")]) == 1
    assert "nothing" in capsys.readouterr().err
    assert main(["train", "--method", "rs-da", "--lexicon", str(tmp_path / "lex.tsv"), "--output-dir", str(tmp_path / "o")]) == 1
    assert "lex.tsv" in capsys.readouterr().err


def test_model_prepare_prints_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ROBUST_XLT_CACHE", str(tmp_path))
    assert main(["model", "prepare", "tiny"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder.parent == tmp_path and (folder / "model.safetensors").exists()
