"""Training and evaluation on the tiny random model: every method end to end on the
PAWS-X and QA smoke samples, exact kill-and-resume, the methods' perturbations, the
augmentation of QA answers, config precedence and errors, and the outputs folder."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from robust_xlt.data import Answer, PairExample, QAExample
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training import CheckpointError, ConfigError, TrainConfig, build_config, load_toml, train
from robust_xlt.training import methods, rng
from robust_xlt.training.augment import Augmenter, build_augmenter, smoke_lexicon_path
from robust_xlt.evaluation import markdown_table, read_predictions, summarize
from robust_xlt.tasks import trim_padding
from robust_xlt.training.config import TASK_DEFAULTS, to_toml
from robust_xlt.training.loop import BatchOrder

try:
    import robust_xlt.qa  # noqa: F401  (the QA feature module, merged separately)

    HAS_QA = True
except ImportError:
    HAS_QA = False
needs_qa = pytest.mark.skipif(not HAS_QA, reason="robust_xlt.qa (the QA feature module) is not installed yet")

METHODS: dict[str, dict[str, Any]] = {
    "standard": {"method": ("standard",)},
    "rs-da": {"method": ("rs-da",)},
    "rs-rp-uniform": {"method": ("rs-rp",), "noise": "uniform"},
    "adv-pgd-linf": {"method": ("adv",), "adv_norm": "linf", "adv_lr": 0.01, "adv_radius": 0.02},
    "adv-freelb": {"method": ("adv",), "adv_variant": "freelb", "adv_init_mag": 0.2, "adv_radius": 0.5},
    "codeswitch": {"method": ("codeswitch",)},
    "rs-da+codeswitch+adv": {"method": ("rs-da", "codeswitch", "adv"), "adv_init_mag": 0.1, "grad_accumulation": 3},
}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def small(task: str, tiny: str, out: Path, **overrides: Any) -> TrainConfig:
    """A seconds-long run on the smoke sample."""
    base: dict[str, Any] = dict(
        task=task,
        model=tiny,
        batch_size=8,
        max_steps=4,
        eval_every=2,
        output_dir=str(out),
        threads=1,
        device="cpu",
        checkpoint_interval=0.0,  # a resume checkpoint at every evaluation, for the resume tests
    )
    if task == "qa":
        base.update(max_length=96, qa_overlap=24, max_query_length=24)
    else:
        base.update(max_length=48)
    base.update(overrides)
    return TrainConfig(**base)


# ------------------------------------------------------------- end to end


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_evaluates_pawsx(tiny: str, tmp_path: Path, method: str) -> None:
    result = train(small("pawsx", tiny, tmp_path / "run", max_steps=3, eval_every=3, **METHODS[method]))
    langs = result.results["languages"]
    assert list(langs) == ["en", "de", "zh", "sw"]
    # 10 sample rows a language; one group of 2 rows is the English dev set, so no language scores it.
    assert all(0.0 <= s["accuracy"] <= 100.0 and s["count"] == 8 for s in langs.values())
    assert result.results["low_resource_langs"] == ["sw"]
    assert result.results["steps"] == 3
    losses = [r["loss"] for r in _records(tmp_path / "run", "train")]
    assert losses and all(math.isfinite(v) for v in losses)


@needs_qa
@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_trains_and_evaluates_qa(tiny: str, tmp_path: Path, method: str) -> None:
    result = train(small("qa", tiny, tmp_path / "run", max_steps=3, eval_every=3, **METHODS[method]))
    langs = result.results["languages"]
    assert list(langs) == ["en", "de", "zh", "sw"]
    for lang, scores in langs.items():
        assert set(scores) >= {"f1", "exact_match", "lang_f1", "lang_exact_match"}
        # One English passage (3 questions) is the dev set; QA files are not row-aligned.
        assert scores["count"] == (6 if lang == "en" else 9)
    assert set(result.results["average"]) == {"f1", "exact_match", "lang_f1", "lang_exact_match"}


def test_outputs_folder(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = train(small("pawsx", tiny, out))
    names = {p.name for p in out.iterdir()}
    assert {"config.toml", "metrics.jsonl", "results.json", "results.md", "splits.json", "best"} <= names
    assert {f"predictions-{lang}.jsonl" for lang in ("en", "de", "zh", "sw")} <= names
    assert "resume" not in names  # removed once the run finished
    assert not [n for n in names if n.endswith(".tmp")]
    best = out / "best"
    assert (best / "model.safetensors").exists() and (best / "robust_xlt.toml").exists()
    assert json.loads((best / "best.json").read_text())["step"] == result.results["best_step"]
    # The saved config is complete and reads back as the same resolved config.
    saved = build_config(load_toml(out / "config.toml"))
    assert saved == small("pawsx", tiny, out).resolved()
    events = [json.loads(line)["event"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert events.count("dev") == 2 and events.count("checkpoint") == 2 and events[-1] == "final"
    results = json.loads((out / "results.json").read_text())
    assert results == json.loads(json.dumps(result.results))
    assert results["average"]["accuracy"] == pytest.approx(np.mean([s["accuracy"] for s in results["languages"].values()]))
    assert "| sw (low-resource) |" in (out / "results.md").read_text()


def test_existing_output_folder_needs_resume_or_overwrite(tiny: str, tmp_path: Path) -> None:
    config = small("pawsx", tiny, tmp_path / "run", max_steps=1)
    train(config)
    with pytest.raises(ConfigError, match="already holds a run"):
        train(config)
    again = train(config, resume=True)  # finished: returns the saved results
    assert again.results["steps"] == 1
    train(config, overwrite=True)


# ---------------------------------------------------------------- resume


class Killed(Exception):
    pass


def kill_at(step: int):
    def hook(s: int) -> None:
        if s == step:
            raise Killed

    return hook


def keep_final_state(out: Path, total: int):
    """Copy the last resume checkpoint (model, optimizer, RNG after the final step)
    before the finished run deletes it."""

    def hook(s: int) -> None:
        if s == total:
            shutil.copytree(out / "resume", out / "final")

    return hook


def assert_same_run(a: Path, b: Path) -> None:
    """Same results, same selected weights, same final weights and optimizer state, and
    the same loss at every step."""
    assert json.loads((a / "results.json").read_text()) == json.loads((b / "results.json").read_text())
    wa, wb = load_file(a / "best" / "model.safetensors"), load_file(b / "best" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    for name in ("trainable.safetensors", "optimizer.safetensors"):
        ta, tb = load_file(a / "final" / name), load_file(b / "final" / name)
        assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta), name
    step = json.loads((a / "final" / "state.json").read_text())["step"]
    assert step == json.loads((b / "final" / "state.json").read_text())["step"]
    losses = [(r["step"], r["loss"]) for r in _records(a, "train")]
    assert len(losses) == step and losses == [(r["step"], r["loss"]) for r in _records(b, "train")]
    untimed = [{k: v for k, v in r.items() if k != "seconds"} for r in _records(a, "dev")]
    assert untimed == [{k: v for k, v in r.items() if k != "seconds"} for r in _records(b, "dev")]
    assert _records(a, "edits") == _records(b, "edits")
    for lang in json.loads((a / "results.json").read_text())["languages"]:
        assert read_predictions(a, lang) == read_predictions(b, lang)


def test_killed_run_resumes_to_the_same_result(tiny: str, tmp_path: Path) -> None:
    settings = dict(max_steps=6, eval_every=2, log_every=1, method=("rs-da", "codeswitch", "adv"), adv_init_mag=0.3)
    whole = train(small("pawsx", tiny, tmp_path / "whole", **settings), on_step=keep_final_state(tmp_path / "whole", 6))
    config = small("pawsx", tiny, tmp_path / "killed", **settings)
    # Killed before the first checkpoint: the resumed run starts over ...
    with pytest.raises(Killed):
        train(config, on_step=kill_at(1))
    assert not (tmp_path / "killed" / "resume").exists()
    # ... and killed again between checkpoints (saved at 2 and 4): step 5 is redone from 4.
    with pytest.raises(Killed):
        train(config, resume=True, on_step=kill_at(5))
    checkpoint = json.loads((tmp_path / "killed" / "resume" / "state.json").read_text())
    assert checkpoint["step"] == 4
    carried = checkpoint["state"]["seconds"]  # the time up to the checkpoint, kept for the final record
    assert carried["train"] > 0 and 0 < carried["step"] <= carried["train"] and carried["eval"] > 0
    resumed = train(config, resume=True, on_step=keep_final_state(tmp_path / "killed", 6))
    assert resumed.results == whole.results
    final = _records(tmp_path / "killed", "final")[-1]
    # The record keeps 2 decimals and the resumed part may add under 0.005 s (one tiny dev evaluation),
    # so carrying shows as: no total below the carried time at the record's precision (a reset
    # total would hold only steps 5-6, one dev evaluation and one checkpoint: well below it).
    for key in ("train", "step", "eval"):
        assert final[f"{key}_seconds"] >= round(carried[key], 2), key
    assert_same_run(tmp_path / "whole", tmp_path / "killed")


@needs_qa
def test_killed_qa_run_resumes_to_the_same_result(tiny: str, tmp_path: Path) -> None:
    settings = dict(max_steps=5, eval_every=2, log_every=1, method=("rs-da", "rs-rp"))
    train(small("qa", tiny, tmp_path / "whole", **settings), on_step=keep_final_state(tmp_path / "whole", 5))
    config = small("qa", tiny, tmp_path / "killed", **settings)
    with pytest.raises(Killed):
        train(config, on_step=kill_at(3))
    train(config, resume=True, on_step=keep_final_state(tmp_path / "killed", 5))
    assert_same_run(tmp_path / "whole", tmp_path / "killed")


def test_resume_checks_the_config_and_the_file(tiny: str, tmp_path: Path) -> None:
    config = small("pawsx", tiny, tmp_path / "run", max_steps=4, eval_every=2)
    with pytest.raises(Killed):
        train(config, on_step=kill_at(3))
    with pytest.raises(ConfigError, match=r"lr: 2e-05 -> 0\.001"):
        train(dataclasses.replace(config, lr=1e-3), resume=True)
    with pytest.raises(ConfigError, match=r"threads: 1 -> 2"):
        train(dataclasses.replace(config, threads=2), resume=True)
    path = tmp_path / "run" / "resume" / "trainable.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=str(path)):
        train(config, resume=True)


def test_batch_order_is_a_permutation_per_epoch_and_pure() -> None:
    order = BatchOrder(10, 4, seed=3)
    assert order.steps_per_epoch == 3
    epoch0 = [i for s in range(3) for i in order.indices(s)]
    epoch1 = [i for s in range(3, 6) for i in order.indices(s)]
    assert sorted(epoch0) == sorted(epoch1) == list(range(10)) and epoch0 != epoch1
    assert BatchOrder(10, 4, seed=3).indices(4) == order.indices(4)  # no hidden state
    assert BatchOrder(10, 4, seed=4).indices(0) != order.indices(0)


# ----------------------------------------------------------- augmentation


def augmenter(**overrides: Any) -> Augmenter:
    config = TrainConfig(**{"method": ("rs-da", "codeswitch"), "synonym_rate": 1.0, "codeswitch_rate": 0.5, **overrides})
    aug = build_augmenter(config.resolved())
    assert aug is not None
    return aug


def test_qa_answers_are_protected_and_follow_the_edits() -> None:
    context = "The old river flows past the small village to the sea. The village lies near the big forest."
    answers = (Answer("the small village", context.index("the small village")), Answer("big forest", context.index("big forest")))
    ex = QAExample("q1", "Where does the river flow?", context, answers, "en")
    changed = 0
    for step in range(20):
        (out,), _ = augmenter(task="qa", train_data="t.json", eval_data="e.json")([ex], step)
        assert isinstance(out, QAExample)
        for old, new in zip(ex.answers, out.answers, strict=True):
            assert new.text == old.text
            assert out.context[new.start : new.start + len(new.text)] == new.text
        changed += out.context != context
        assert "small village" in out.context  # protected words are never replaced
    assert changed >= 15  # rate 1 synonyms: "river", "sea" always have one


def test_augmentation_is_resampled_per_step_and_reproducible() -> None:
    aug = augmenter(synonym_rate=0.5)
    ex = [PairExample("0", "The river flows from the mountains to the sea.", "The small village lies near the old castle.", 1, "en")]
    first = [p for step in range(8) for p in aug(ex, step)[0] if isinstance(p, PairExample)]
    again = [augmenter(synonym_rate=0.5)(ex, step)[0][0] for step in range(8)]
    assert len(first) == 8 and first == again
    assert len({(p.text_a, p.text_b) for p in first}) > 1
    assert all(p.label == 1 and p.id == "0" for p in first)


def test_codeswitch_targets_default_to_the_evaluation_languages() -> None:
    aug = build_augmenter(TrainConfig(method=("codeswitch",), eval_langs=("de", "sw")).resolved())
    assert aug is not None and aug.target_langs == ("de", "sw")
    with pytest.raises(ConfigError, match="'fi'|fi not in the lexicon"):
        build_augmenter(TrainConfig(method=("codeswitch",), codeswitch_langs=("fi",)).resolved())


def test_smoke_lexicon_covers_the_sample() -> None:
    from robust_xlt import load_lexicon

    lexicon = load_lexicon([smoke_lexicon_path()])
    assert set(lexicon.languages()) == {"en", "de", "zh", "sw"}
    assert not lexicon.skipped_lines
    assert lexicon.synonyms("river", "en") and lexicon.translations("river", "en", "sw") == ["mto"]


# ------------------------------------------------------ embedding methods


class TinyEncoder(torch.nn.Module):
    """Enough of a transformers model for the step functions: embeddings, inputs_embeds, .logits."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.Embedding(20, 6)
        self.head = torch.nn.Linear(6, 2)
        self.seen: list[torch.Tensor] = []

    def get_input_embeddings(self) -> torch.nn.Embedding:
        return self.embed

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, labels=None):  # type: ignore[no-untyped-def]
        x = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        self.seen.append(x.detach().clone())
        logits = self.head((x * attention_mask.unsqueeze(-1)).sum(1))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits, labels)
        return type("Out", (), {"loss": loss, "logits": logits})


def tiny_batch() -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.tensor([[0, 5, 6, 7, 2, 1], [0, 8, 9, 2, 1, 1]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]]),
        "labels": torch.tensor([0, 1]),
    }


SPECIALS = [0, 1, 2]


def generator() -> torch.Generator:
    return rng.torch_generator(0, 0, rng.EMBEDDING)


def perturbations(model: TinyEncoder, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    clean = model.embed(batch["input_ids"]).detach()
    return [x - clean for x in model.seen]


@pytest.mark.parametrize("kind", ["gaussian", "uniform"])
def test_noise_touches_only_real_tokens_with_the_requested_scale(kind: str) -> None:
    model, batch = TinyEncoder(), tiny_batch()
    config = TrainConfig(method=("rs-rp",), noise=kind, noise_scale=0.5).resolved()
    step = methods.make_step(config, SPECIALS, embedding_std=2.0)
    step(model, batch, generator(), 1.0, 1.0)
    (noise,) = perturbations(model, batch)
    mask = methods.perturbation_mask(batch, torch.tensor(SPECIALS))
    assert torch.all(noise[mask.squeeze(-1) == 0] == 0)
    real = noise[mask.squeeze(-1) == 1]
    assert real.std().item() == pytest.approx(1.0, rel=0.5)  # 0.5 x std 2.0
    if kind == "uniform":
        assert real.abs().max().item() <= 3**0.5 + 1e-6
    model.seen.clear()
    step(model, batch, generator(), 1.0, 1.0)
    assert torch.equal(perturbations(model, batch)[0], noise)  # same step, same draw


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("variant", ["pgd", "freelb"])
def test_adversarial_steps_stay_in_the_ball_and_off_special_tokens(norm: str, variant: str) -> None:
    model, batch = TinyEncoder(), tiny_batch()
    config = TrainConfig(
        method=("adv",), adv_variant=variant, adv_norm=norm, adv_steps=3, adv_lr=0.4, adv_radius=0.5, adv_init_mag=0.1
    ).resolved()
    methods.make_step(config, SPECIALS, 1.0)(model, batch, generator(), 1.0, 1.0)
    deltas = perturbations(model, batch)
    passes = {"pgd": 3 + 2, "freelb": 3}[variant]  # pgd: clean, 3 ascents, final
    assert len(deltas) == passes
    mask3 = methods.perturbation_mask(batch, torch.tensor(SPECIALS))
    mask = mask3.squeeze(-1)
    # The radius is relative to each example's own clean embeddings (see methods).
    scale = methods.embedding_scale(model.embed(batch["input_ids"]).detach(), mask3, norm).flatten()
    for d in deltas:
        assert torch.all(d[mask == 0] == 0)
        if norm == "l2":
            assert torch.all(d.flatten(1).norm(dim=1) <= 0.5 * scale + 1e-5)
        else:
            assert torch.all(d.flatten(1).abs().amax(dim=1) <= 0.5 * scale + 1e-6)
    assert deltas[-1].abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


def test_pgd_from_zero_reuses_the_clean_pass() -> None:
    model, batch = TinyEncoder(), tiny_batch()
    config = TrainConfig(method=("adv",), adv_steps=1, adv_lr=0.3, adv_radius=0.0).resolved()
    loss = methods.make_step(config, SPECIALS, 1.0)(model, batch, generator(), 1.0, 1.0)
    deltas = perturbations(model, batch)
    assert len(deltas) == 2 and deltas[0].abs().sum() == 0  # FGM: clean + adversarial
    # One step of 0.3 of each example's embedding norm (real, non-special tokens).
    mask = methods.perturbation_mask(batch, torch.tensor(SPECIALS))
    norms = (model.embed(batch["input_ids"]).detach() * mask).flatten(1).norm(dim=1)
    assert deltas[1].flatten(1).norm(dim=1).tolist() == pytest.approx((0.3 * norms).tolist(), rel=1e-5)
    assert math.isfinite(loss)


@pytest.mark.parametrize("method", [("standard",), ("adv",)])
def test_micro_batches_add_up_to_the_batch_gradient(method: tuple[str, ...]) -> None:
    from robust_xlt.training.batches import micro_batches

    batch = tiny_batch()
    batch = {k: torch.cat([v, v.flip(0), v]) for k, v in batch.items()}  # 6 rows
    parts = micro_batches(batch, 4)
    assert len(parts) == 4 and sum(len(p["input_ids"]) for p, _ in parts) == 6
    assert sum(w for _, w in parts) == pytest.approx(1.0)
    config = TrainConfig(method=method, adv_steps=1).resolved()
    whole, split = TinyEncoder(), TinyEncoder()
    step = methods.make_step(config, SPECIALS, 1.0)
    loss = step(whole, batch, generator(), 1.0, 1.0)
    total = sum(step(split, trim_padding(part), generator(), w, 1.0) for part, w in parts)
    assert total == pytest.approx(loss, rel=1e-5)
    for a, b in zip(whole.parameters(), split.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None
        assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_trim_padding_keeps_every_real_token() -> None:
    batch = tiny_batch()
    batch = {k: torch.nn.functional.pad(v, (0, 3)) if v.dim() == 2 else v for k, v in batch.items()}
    trimmed = trim_padding(batch)
    assert trimmed["input_ids"].shape == (2, 5) and torch.equal(trimmed["labels"], batch["labels"])
    assert torch.equal(trimmed["attention_mask"].sum(1), batch["attention_mask"].sum(1))


def test_freelb_random_start_scale() -> None:
    embeds = torch.ones(2, 6, 8)
    mask = methods.perturbation_mask(tiny_batch(), torch.tensor(SPECIALS))
    config = TrainConfig(method=("adv",), adv_variant="freelb", adv_init_mag=1.0).resolved()
    scale = methods.embedding_scale(embeds, mask, "l2")
    delta = methods.random_start(embeds, mask, scale, config, generator())
    # U(-1, 1) has variance 1/3, so the norm is about init_mag / sqrt(3) of the embeddings' norm.
    relative = delta.flatten(1).norm(dim=1) / scale.flatten()
    assert relative.mean().item() == pytest.approx(1 / 3**0.5, rel=0.35)
    assert torch.all(delta[mask.squeeze(-1) == 0] == 0)


# ---------------------------------------------------------------- config


def test_task_defaults_resolve_to_xtreme_settings() -> None:
    qa = TrainConfig(task="qa", train_data="t.json", eval_data="d-{lang}.json").resolved()
    assert (qa.lr, qa.epochs, qa.max_length) == (3e-5, 3, 384)
    assert qa.eval_langs == TASK_DEFAULTS["qa"].languages and qa.low_resource_langs == ("sw", "te", "bn")
    xnli = TrainConfig(task="xnli", train_data="t.tsv", eval_data="d-{lang}.tsv", eval_langs=("de", "ur")).resolved()
    assert (xnli.lr, xnli.epochs, xnli.max_length) == (2e-5, 5, 128)
    assert xnli.eval_langs == ("en", "de", "ur") and xnli.low_resource_langs == ("ur",)
    smoke = TrainConfig().resolved()
    assert smoke.eval_langs == ("en", "de", "zh", "sw") and smoke.low_resource_langs == ("sw",)
    assert TrainConfig(source_lang="eng", eval_langs=("DE",)).source_lang == "en"


def test_toml_layer_sits_between_defaults_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('task = "qa"\nlr = 1e-4\nmethod = ["adv", "codeswitch"]\nadv-steps = 3\n')
    config = build_config(load_toml(path), {"lr": 5e-5})
    assert (config.task, config.lr, config.method, config.adv_steps) == ("qa", 5e-5, ("adv", "codeswitch"), 3)
    resolved = config.resolved()
    (tmp_path / "round.toml").write_text(to_toml(resolved))
    assert build_config(load_toml(tmp_path / "round.toml")) == resolved


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("learning_rate = 1e-4\n", "unknown key 'learning_rate'"),
        ("lr = -1e-4\n", "lr must be a positive number, got -0.0001"),
        ('lr = "fast"\n', "lr must be a number, got 'fast'"),
        ('method = "fancy"\n', "unknown method 'fancy'"),
        ('task = "ner"\n', "unknown task 'ner'"),
        ('eval_langs = ["de", "xx"]\n', 'unknown language code "xx"'),
        ('method = "rs-rp,adv"\n', "rs-rp and adv both perturb"),
        ('method = "standard,adv"\n', "'standard' cannot be combined"),
        ("[optim]\nlr = 1\n", "unknown table [optim]"),
        ("[data]\nlr = 1e-4\n", "lr belongs in [optimization], not [data]"),
        ("freeze_embeddings = 2\n", "freeze_embeddings must be true or false, got 2"),
        ('stopwords = "most"\n', "unknown stopwords 'most'"),
        ("train_fraction = 0.5\ndev_fraction = 0.5\n", "leave no rows to evaluate"),
        ("lr = \n", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_value(tmp_path: Path, toml: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        build_config(load_toml(path))
    assert fragment in str(info.value)


def test_missing_data_file_names_the_path(tiny: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "dev-{lang}.tsv"
    config = TrainConfig(model=tiny, train_data=str(tmp_path / "train.tsv"), eval_data=str(missing), output_dir=str(tmp_path / "o"))
    with pytest.raises(FileNotFoundError, match="train.tsv"):
        train(config)
    (tmp_path / "train.tsv").write_text("a\tb\tentailment\n")
    with pytest.raises(FileNotFoundError, match=r"nowhere/dev-en\.tsv"):
        train(config)


def test_training_rows_are_never_evaluated(tiny: str, tmp_path: Path) -> None:
    lines = [f"premise {i // 3}\thypothesis {i}\t{['entailment', 'neutral', 'contradiction'][i % 3]}" for i in range(12)]
    for lang in ("en", "de"):
        (tmp_path / f"dev-{lang}.tsv").write_text("\n".join(lines) + "\n")
    template = str(tmp_path / "dev-{lang}.tsv")
    with pytest.raises(ConfigError, match="evaluation data is the training data"):
        train(TrainConfig(model=tiny, train_data=template, eval_data=template, eval_langs=("de",), output_dir=str(tmp_path / "a")))
    result = train(
        TrainConfig(
            model=tiny,
            eval_data=template,
            train_fraction=0.5,
            eval_langs=("de",),
            max_steps=1,
            max_length=32,
            output_dir=str(tmp_path / "b"),
        )
    )
    # 4 premises: two train, one is the English dev set, one is evaluated in every language.
    assert {lang: s["count"] for lang, s in result.results["languages"].items()} == {"en": 3, "de": 3}


def test_hub_specs_and_language_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    from robust_xlt.training import data

    assert data.parse_hub("hub:google/xtreme:PAWS-X.de:validation") == ("google/xtreme", "PAWS-X.de", "validation")
    assert data.parse_hub("hub:rajpurkar/squad:train") == ("rajpurkar/squad", None, "train")
    assert data.parse_hub("hub:squad::train") == ("squad", None, "train")
    calls: list[tuple[Any, ...]] = []

    def fake_load_hub(*args: Any) -> list[Any]:
        calls.append(args)
        return []

    monkeypatch.setattr(data, "load_hub", fake_load_hub)
    data.load_source("xnli", "hub:xnli:{lang}:validation", "sw")
    assert calls == [("xnli", "sw", "validation", "xnli", "sw")]


def test_summary_and_table() -> None:
    config = TrainConfig(task="xnli", train_data="t", eval_data="e", eval_langs=("de", "sw", "ur")).resolved()
    scores = {lang: {"accuracy": a, "count": 10.0} for lang, a in zip(["en", "de", "sw", "ur"], [80.0, 70.0, 60.0, 50.0], strict=True)}
    summary = summarize(scores, ("accuracy",), config.source_lang, config.low_resource_langs or ())
    assert summary["average"] == {"accuracy": 65.0}
    assert summary["target_average"] == {"accuracy": 60.0}
    assert summary["low_resource_average"] == {"accuracy": 55.0}
    table = markdown_table(summary)
    assert "| en (source) | 80.00 | 10 |" in table and "| ur (low-resource) | 50.00 | 10 |" in table
    assert "low-resource average (sw, ur) | 55.00" in table


def _records(out: Path, event: str) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]
