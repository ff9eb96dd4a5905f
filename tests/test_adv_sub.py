"""adv-sub, online adversarial training with the word-substitution adversary: which
examples it replaces and how far, that it is deterministic and resumes exactly, and
that it combines with the embedding methods and a curriculum."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robust_xlt.data import PairExample
from robust_xlt.tasks import InputSettings, get_task
from robust_xlt.training import TrainConfig, train
from robust_xlt.training.adversarial import build_adversary
from robust_xlt.training.augment import load_run_lexicon

from test_training import Killed, _records, assert_same_run, keep_final_state, kill_at, small, tiny  # noqa: F401


def _batch() -> list[PairExample]:
    texts = [
        ("The big dog ran quickly to the large house.", "A small cat sleeps near the house."),
        ("The old man walks to the big river.", "The man is happy and the dog is big."),
        ("Children play in the large garden every day.", "The garden is small and old."),
        ("A quick brown fox jumps over the lazy dog.", "The dog is big and the house is small."),
    ]
    return [PairExample(id=str(i), text_a=a, text_b=b, label=i % 3, lang="en") for i, (a, b) in enumerate(texts * 3)]


def _adversary(tiny_dir: str, **overrides):
    config = TrainConfig(method=("adv-sub",), eval_langs=("de", "zh", "sw"), **overrides).resolved()
    task = get_task("xnli")
    torch.manual_seed(0)  # the classifier head is new: the same one whatever ran before
    model, tokenizer = task.load_model(tiny_dir)
    loaded = load_run_lexicon(config)
    assert loaded is not None
    lexicon, _ = loaded
    adversary = build_adversary(config, task, tokenizer, InputSettings(max_length=64), lexicon, ("de", "zh", "sw"))
    return adversary, model, lexicon


def test_adv_sub_replaces_only_its_share_within_the_budget(tiny: str) -> None:  # noqa: F811
    adversary, model, _ = _adversary(tiny, adv_sub_share=0.5, adv_sub_budget=0.3, adv_sub_rounds=4)
    batch = _batch()
    model.train()
    out, stats = adversary(model, batch, step=7)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert stats is not None and stats.examples == 6 and stats.steps == 1
    changed = [i for i, (a, b) in enumerate(zip(batch, out)) if a != b]
    assert len(changed) <= 6 and stats.attacked <= 6
    assert sum(1 for a, b in zip(batch, out) if a == b) >= 6  # the other half is left clean
    assert stats.changed > 0
    for a, b in zip(batch, out):
        assert (a.id, a.label) == (b.id, b.label)
    # Each attacked example changes at most floor(0.3 x its words), so the total share does too.
    assert stats.changed <= 0.3 * stats.words
    # Deterministic: the same model and step attack the same examples the same way.
    again, _ = adversary(model, batch, step=7)
    assert again == out
    other, _ = adversary(model, batch, step=8)
    assert other != out


def test_adv_sub_skips_off_steps_and_strength_scales_its_budget(tiny: str) -> None:  # noqa: F811
    adversary, model, _ = _adversary(tiny, adv_sub_every=3, adv_sub_budget=0.2)
    batch = _batch()
    assert adversary(model, batch, step=1) == (batch, None)
    out, stats = adversary(model, batch, step=3, strength=0.01)  # budget 0.002: no word may change
    assert out == batch and stats is not None and stats.changed == 0


def test_adv_sub_trains_logs_and_resumes_exactly(tiny: str, tmp_path: Path) -> None:  # noqa: F811
    settings = dict(
        max_steps=5, eval_every=2, log_every=1, method=("adv-sub", "adv"), curriculum="adaptive", adv_sub_budget=0.3
    )
    whole = train(small("pawsx", tiny, tmp_path / "whole", **settings), on_step=keep_final_state(tmp_path / "whole", 5))
    attacks = _records(tmp_path / "whole", "adversary")
    assert [r["step"] for r in attacks] == [1, 2, 3, 4, 5]
    # Half of each batch of 8 (an epoch's last batch may be smaller), summed over the run.
    assert all(r["examples"] <= 4 for r in attacks)
    assert whole.results["adversary"]["examples"] == sum(r["examples"] for r in attacks) >= 16
    assert whole.results["adversary"]["changed_share"] > 0
    config = small("pawsx", tiny, tmp_path / "killed", **settings)
    with pytest.raises(Killed):
        train(config, on_step=kill_at(3))
    resumed = train(config, resume=True, on_step=keep_final_state(tmp_path / "killed", 5))
    assert resumed.results == whole.results
    assert_same_run(tmp_path / "whole", tmp_path / "killed")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(_records(tmp_path / "killed", "adversary")) == strip(attacks)
    assert _records(tmp_path / "killed", "curriculum") == _records(tmp_path / "whole", "curriculum")


def test_adv_sub_needs_a_lexicon_language_to_switch_into(tmp_path: Path) -> None:
    lexicon = tmp_path / "en-only.tsv"
    lexicon.write_text("en\tbig\ten\tlarge\n", encoding="utf-8")
    config = TrainConfig(method=("adv-sub",), lexicon=(str(lexicon),)).resolved()
    from robust_xlt.training.augment import codeswitch_targets
    from robust_xlt.training.config import ConfigError

    loaded = load_run_lexicon(config)
    assert loaded is not None
    with pytest.raises(ConfigError, match="codeswitch needs a lexicon with translations"):
        codeswitch_targets(config, loaded[0])


def test_adv_sub_trains_qa_with_its_answers_kept(tiny: str, tmp_path: Path) -> None:  # noqa: F811
    # The QA rebuild asserts every answer survives its example's substitutions.
    result = train(small("qa", tiny, tmp_path / "run", max_steps=2, eval_every=2, method=("adv-sub",), curriculum="relevance"))
    assert result.results["adversary"]["examples"] > 0
    assert [r["open_share"] for r in _records(tmp_path / "run", "curriculum")] == [0.25, 1.0]


def test_the_search_stops_after_its_rounds(tiny: str) -> None:  # noqa: F811
    # One clean query per example, then at most rounds x per_round verified variants.
    adversary, model, _ = _adversary(tiny, adv_sub_share=1.0, adv_sub_budget=1.0, adv_sub_rounds=1, adv_sub_per_round=2)
    _, stats = adversary(model, _batch(), step=0)
    assert stats is not None and stats.examples == 12
    assert stats.queries <= 12 * (1 + 1 * 2)
    _, more = _adversary(tiny, adv_sub_share=1.0, adv_sub_budget=1.0, adv_sub_rounds=3, adv_sub_per_round=2)[0](model, _batch(), step=0)
    assert more is not None and more.queries >= stats.queries
