"""Controls a comparison between methods rests on: a QA loss that does not depend on
padding, embedding adversaries sized relative to the input, frozen embeddings that
stay frozen and out of the checkpoint, per-example predictions that reproduce every
reported score, logged edit rates, and outputs that are never overwritten."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from robust_xlt.cli import main
from robust_xlt.data import load_squad, sample_path
from robust_xlt.evaluation import read_predictions
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.tasks import InputSettings, get_task, trim_padding
from robust_xlt.training import ConfigError, TrainConfig, evaluate_saved, train
from robust_xlt.training import methods, rng


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def small(task: str, tiny: str, out: Path, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = dict(task=task, model=tiny, batch_size=8, max_steps=4, eval_every=2, output_dir=str(out), threads=1, device="cpu")
    base.update(max_length=96, qa_overlap=24, max_query_length=24) if task == "qa" else base.update(max_length=48)
    base.update(overrides)
    return TrainConfig(**base)


# ------------------------------------------------------------ QA loss and padding


def test_qa_loss_does_not_depend_on_padding(tiny: str) -> None:
    task = get_task("qa")
    model, tokenizer = task.load_model(tiny)
    model.eval()  # no dropout: the same windows must give the same loss
    examples = load_squad(sample_path("qa", "train", "en"), "en")[:6]
    batch = task.train_batch(tokenizer, examples, InputSettings(max_length=96, qa_overlap=24, max_query_length=24))
    assert int(batch["attention_mask"].sum(1).max()) < batch["input_ids"].shape[1]  # padded
    with torch.no_grad():
        padded = task.loss(model(**{k: v for k, v in batch.items() if "positions" not in k}), batch)
        trimmed_batch = trim_padding(batch)
        trimmed = task.loss(model(**{k: v for k, v in trimmed_batch.items() if "positions" not in k}), trimmed_batch)
        rows = []
        for i in range(len(batch["input_ids"])):
            row = trim_padding({k: v[i : i + 1] for k, v in batch.items()})
            rows.append(task.loss(model(**{k: v for k, v in row.items() if "positions" not in k}), row))
        by_row = torch.stack(rows).mean()
        # transformers' own QA loss runs its softmax over padding too: it moves with the padding.
        hf_padded = model(**batch).loss
        hf_trimmed = model(**trimmed_batch).loss
    assert padded.item() == pytest.approx(trimmed.item(), rel=1e-5)
    assert padded.item() == pytest.approx(by_row.item(), rel=1e-5)
    assert abs(hf_padded.item() - hf_trimmed.item()) > 1e-3


# ------------------------------------------------------ adversary strength


class Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(50, 8)
        self.head = torch.nn.Linear(8, 3)
        self.seen: list[torch.Tensor] = []

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None):  # type: ignore[no-untyped-def]
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        self.seen.append(x.detach().clone())
        return type("Out", (), {"logits": self.head(torch.tanh(x * attention_mask.unsqueeze(-1)).sum(1))})


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_adversary_size_is_relative_to_the_input_whatever_its_length(norm: str) -> None:
    """Under the old absolute sizes, a perturbation was a smaller share of a longer
    input's embeddings (2% of an XNLI pair, 1% of a QA window); now its share is the
    radius for every length and for embeddings of any scale."""
    shares = []
    for length, scale in ((6, 1.0), (60, 1.0), (60, 25.0)):
        model = Encoder()
        with torch.no_grad():
            model.embed.weight.mul_(scale)
        ids = torch.randint(3, 50, (2, length))
        ids[:, 0] = 0
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([0, 2])}
        config = TrainConfig(method=("adv",), adv_norm=norm).resolved()
        methods.make_step(config, [0], 1.0)(model, batch, rng.torch_generator(0, 0, rng.EMBEDDING), 1.0, 1.0)
        clean = model.embed(ids).detach()
        mask = methods.perturbation_mask(batch, torch.tensor([0]))
        delta = (model.seen[-1] - clean) * mask
        if norm == "l2":
            share = delta.flatten(1).norm(dim=1) / (clean * mask).flatten(1).norm(dim=1)
        else:
            rms = (clean * mask).flatten(1).norm(dim=1) / (mask.sum((1, 2)) * 8).sqrt()
            share = delta.flatten(1).abs().amax(dim=1) / rms
        shares.append(share)
    radius = config.adv_radius
    assert radius == {"l2": 0.2, "linf": 0.1}[norm]
    step = config.adv_lr
    assert step is not None
    for share in shares:
        if norm == "l2":
            # Two steps of 0.1 that need not point the same way: between one step and the radius.
            assert torch.all(share <= radius + 1e-4) and torch.all(share >= step - 1e-4)
        else:
            assert share.tolist() == pytest.approx([radius, radius], rel=1e-4)


# ------------------------------------------------------- frozen embeddings


def test_frozen_embeddings_stay_frozen_and_out_of_the_checkpoint(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "frozen"
    seen: dict[str, Any] = {}

    def keep(step: int) -> None:
        if step == 2:
            seen["trainable"] = load_file(out / "resume" / "trainable.safetensors")
            seen["optimizer"] = load_file(out / "resume" / "optimizer.safetensors")

    train(small("pawsx", tiny, out, freeze_embeddings=True, checkpoint_interval=0.0), on_step=keep)
    assert not any("word_embeddings" in k for k in seen["trainable"])
    before = load_file(Path(tiny) / "model.safetensors")
    after = load_file(out / "best" / "model.safetensors")
    key = next(k for k in after if k.endswith("word_embeddings.weight"))
    assert torch.equal(after[key], before[next(k for k in before if k.endswith("word_embeddings.weight"))])
    # Adam moments exist only for the trained parameters (2 per parameter tensor).
    assert len(seen["optimizer"]) <= 3 * len(seen["trainable"])
    total = sum(v.numel() for v in after.values())
    assert sum(v.numel() for v in seen["trainable"].values()) < total - after[key].numel() + 1


# ------------------------------------------------------- predictions


@pytest.mark.parametrize("task", ["pawsx", "qa"])
def test_predictions_reproduce_every_reported_score(tiny: str, tmp_path: Path, task: str) -> None:
    out = tmp_path / task
    result = train(small(task, tiny, out, max_steps=2))
    results = json.loads((out / "results.json").read_text())
    for lang, scores in results["languages"].items():
        records = read_predictions(out, lang)
        assert len(records) == scores["count"]
        assert len({r["id"] for r in records}) == len(records)
        if task == "qa":
            for name in ("f1", "exact_match", "lang_f1", "lang_exact_match"):
                assert 100 * np.mean([r[name] for r in records]) == pytest.approx(scores[name])
        else:
            assert 100 * np.mean([r["correct"] for r in records]) == pytest.approx(scores["accuracy"])
            assert all(r["correct"] == (r["prediction"] == r["gold"]) for r in records)
            assert all(sum(r["probabilities"]) == pytest.approx(1.0, abs=1e-5) for r in records)
            assert all(r["prediction"] == int(np.argmax(r["probabilities"])) for r in records)
    assert result.results == results


def test_edit_rates_are_logged_per_step_and_in_the_results(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(small("pawsx", tiny, out, method=("rs-da", "codeswitch"), max_steps=3, eval_every=3))
    edits = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    edits = [r for r in edits if r["event"] == "edits"]
    assert [r["step"] for r in edits] == [1, 2, 3]
    for record in edits:
        assert record["lang"] == "en"
        for mode in ("synonym", "codeswitch"):
            r = record[mode]
            assert r["words"] == r["stopwords"] + r["protected"] + r["no_candidate"] + r["eligible"] > 0
            assert 0 <= r["changed"] <= r["eligible"]
            assert r["changed_share"] == pytest.approx(r["changed"] / r["words"], abs=1e-5)
    rates = json.loads((out / "results.json").read_text())["edit_rates"]
    assert rates["synonym"]["words"] == sum(r["synonym"]["words"] for r in edits)
    assert set(rates["codeswitch"]["changed_share_by_lang"]) <= {"de", "zh", "sw"}


# ------------------------------------------------------- outputs are kept


def test_eval_never_replaces_a_training_runs_results(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(small("pawsx", tiny, out, max_steps=1))
    before = (out / "results.json").read_text()
    with pytest.raises(ConfigError, match="holds a training run"):
        evaluate_saved(out / "best", small("pawsx", tiny, out), out)
    assert (out / "results.json").read_text() == before
    evaluate_saved(out / "best", small("pawsx", tiny, out), out / "eval-again")
    assert (out / "eval-again" / "predictions-de.jsonl").exists()


def test_version_and_all_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and "robust-xlt 0.1.0" in capsys.readouterr().out
    from robust_xlt.training.config import coerce

    assert coerce("max_eval_examples", "all", "--max-eval-examples") is None
    with pytest.raises(ConfigError, match="max_eval_examples must be at least 1, got 0"):
        TrainConfig(max_eval_examples=0)


def test_toml_sections_round_trip(tmp_path: Path) -> None:
    from robust_xlt.training.config import build_config, load_toml, to_toml

    config = TrainConfig(task="qa", method=("adv",), freeze_embeddings=True, lr=1e-4, stopwords="full").resolved()
    text = to_toml(config)
    assert "[optimization]" in text and "freeze_embeddings = true" in text and "[embedding]" in text
    (tmp_path / "c.toml").write_text(text)
    assert build_config(load_toml(tmp_path / "c.toml")) == config


# ------------------------------------------------------- generalized setting


def test_generalized_pairs_mix_the_languages_of_aligned_rows() -> None:
    from robust_xlt.data import PairExample
    from robust_xlt.evaluation import generalized_sets

    sets = {
        "en": [PairExample("0", "a-en", "b-en", 1, "en"), PairExample("1", "c-en", "d-en", 0, "en")],
        "de": [PairExample("1", "c-de", "d-de", 0, "de"), PairExample("0", "a-de", "b-de", 1, "de")],
    }
    mixed = generalized_sets(sets)
    assert set(mixed) == {("en", "en"), ("en", "de"), ("de", "en"), ("de", "de")}
    rows = mixed[("en", "de")]
    pairs = [e for e in rows if isinstance(e, PairExample)]
    assert len(pairs) == len(rows)  # pairs in, pairs out
    assert [(e.id, e.text_a, e.text_b, e.label) for e in pairs] == [("0", "a-en", "b-de", 1), ("1", "c-en", "d-de", 0)]
    sets["de"][0] = PairExample("1", "c-de", "d-de", 2, "de")
    with pytest.raises(ValueError, match="different labels"):
        generalized_sets(sets)


def test_eval_generalized_writes_the_matrix(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    train(small("pawsx", tiny, out, max_steps=1))
    assert main(["eval", "--model-dir", str(out / "best"), "--generalized", "--output-dir", str(tmp_path / "gen")]) == 0
    printed = capsys.readouterr().out
    assert "| first \\\\ second | en | de | zh | sw |" in printed
    results = json.loads((tmp_path / "gen" / "results.json").read_text())
    matrix = results["generalized"]["accuracy"]
    # The diagonal is the ordinary per-language evaluation on the same rows.
    assert matrix["de"]["de"] == pytest.approx(results["languages"]["de"]["accuracy"])
    records = read_predictions(tmp_path / "gen", "generalized")
    assert len(records) == 16 * results["generalized"]["count"]


def test_resume_refuses_a_folder_that_is_not_a_run(tiny: str, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "best").mkdir(parents=True)
    (folder / "results.md").write_text("my notes\n")
    with pytest.raises(ConfigError, match="holds no robust-xlt run"):
        train(small("pawsx", tiny, folder, max_steps=1), resume=True)
    assert (folder / "results.md").read_text() == "my notes\n" and (folder / "best").is_dir()
    # A run of the same config cut off before its first checkpoint starts over.
    run = tmp_path / "cut"

    def stop(step: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small("pawsx", tiny, run, max_steps=2, eval_every=2), on_step=stop)
    assert train(small("pawsx", tiny, run, max_steps=2, eval_every=2), resume=True).results["steps"] == 2
    with pytest.raises(ConfigError, match="another config"):
        train(small("pawsx", tiny, run, max_steps=3, eval_every=2), resume=True)


def test_impossible_settings_are_refused_before_any_file(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="max_length 4096 is above"):
        train(small("pawsx", tiny, out, max_length=4096))
    assert not out.exists()


def test_a_moved_run_folder_still_resumes(tiny: str, tmp_path: Path) -> None:
    import shutil

    config = small("pawsx", tiny, tmp_path / "a", max_steps=4, eval_every=2, checkpoint_interval=0.0)

    def stop(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, on_step=stop)
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    moved = small("pawsx", tiny, tmp_path / "." / "b", max_steps=4, eval_every=2, checkpoint_interval=0.0)
    assert train(moved, resume=True).results["steps"] == 4


def test_an_unreadable_qa_question_fails_before_training_naming_its_id(tiny: str, tmp_path: Path) -> None:
    doc = json.loads(sample_path("qa", "train", "en").read_text(encoding="utf-8"))
    qa = doc["data"][0]["paragraphs"][0]["qas"][1]
    qa["question"] = "\u200b"  # a zero-width space: a non-empty string with no tokens
    train_file = tmp_path / "train-en.json"
    train_file.write_text(json.dumps(doc), encoding="utf-8")
    out = tmp_path / "run"
    config = small("qa", tiny, out, train_data=str(train_file), eval_data=str(train_file), train_fraction=0.7, eval_langs=("en",))
    with pytest.raises(ValueError, match=rf"question {qa['id']!r} \(en\): the question has no tokens") as info:
        train(config)
    assert "train-en.json" in str(info.value)
    assert not out.exists()  # refused before any file is written
