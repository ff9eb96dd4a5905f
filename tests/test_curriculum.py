"""Curricula: schedules are monotone (adaptive: bounded), pure functions of (seed,
step, what the model did), and change what each method does; a relevance curriculum
protects the most relevant words; adaptive follows the observed success rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robust_xlt.adversary import AttackConfig, build_space, victim_for
from robust_xlt.adversary.ranking import align_words
from robust_xlt.data import PairExample
from robust_xlt.tasks import InputSettings, get_task
from robust_xlt.training import ConfigError, TrainConfig
from robust_xlt.training.adversarial import relevance_protection
from robust_xlt.training.augment import build_augmenter, load_run_lexicon
from robust_xlt.training.curriculum import Curriculum

from test_training import _records, small, tiny  # noqa: F401  (tiny is a fixture)


def schedule(kind: str, total: int = 40, **overrides) -> Curriculum:
    return Curriculum(TrainConfig(method=("codeswitch",), curriculum=kind, **overrides), total)


@pytest.mark.parametrize("kind", ["linear", "step", "relevance"])
def test_ramps_rise_monotonically_from_the_start_to_full(kind: str) -> None:
    c = schedule(kind, curriculum_replay=0.0)
    levels = [c.current(s) for s in range(40)]
    assert levels[0] == pytest.approx(0.25)
    assert all(a <= b + 1e-12 for a, b in zip(levels, levels[1:]))
    # curriculum_end 0.5: full strength from step 20 on.
    assert levels[19] < 1.0 and all(v == 1.0 for v in levels[20:])
    value = [c.at(s) for s in range(40)]
    if kind == "relevance":
        assert all(d.value == 1.0 for d in value) and [d.open_share for d in value] == levels
    else:
        assert [d.value for d in value] == levels and all(d.open_share == 1.0 for d in value)


def test_step_has_the_configured_number_of_levels() -> None:
    c = schedule("step", curriculum_replay=0.0, curriculum_levels=4)
    assert sorted({c.current(s) for s in range(40)}) == pytest.approx([0.25, 0.5, 0.75, 1.0])
    linear = schedule("linear", curriculum_replay=0.0)
    assert len({linear.current(s) for s in range(40)}) > 4


def test_replay_draws_earlier_levels_reproducibly() -> None:
    a, b = schedule("linear", curriculum_replay=0.5), schedule("linear", curriculum_replay=0.5)
    steps = [a.at(s) for s in range(40)]
    assert steps == [b.at(s) for s in range(40)]  # a pure function of (seed, step)
    replayed = [d for d in steps if d.replay]
    assert 8 <= len(replayed) <= 32
    assert all(0.25 <= d.value < a.current(s) for s, d in enumerate(steps) if d.replay)
    other_seed = Curriculum(TrainConfig(method=("codeswitch",), curriculum="linear", curriculum_replay=0.5, seed=1), 40)
    assert [d.replay for d in steps] != [other_seed.at(s).replay for s in range(40)]


def test_none_is_full_strength_at_every_step() -> None:
    c = schedule("none")
    assert not c.active and all(c.at(s).full for s in range(40))


def test_adaptive_rises_while_the_model_resists_falls_when_it_breaks_and_stays_bounded() -> None:
    c = schedule("adaptive", curriculum_replay=0.0, adaptive_target=0.5, adaptive_rate=0.2)
    assert c.current(0) == pytest.approx(0.25)
    for s in range(3):
        c.observe(c.at(s), 0.0)  # nothing broken: harder
    assert c.current(3) == pytest.approx(0.55)
    for s in range(3, 30):
        c.observe(c.at(s), 0.0)
    assert c.current(30) == 1.0  # never above full
    c.observe(c.at(30), 1.0)  # everything broken: easier
    assert c.current(31) == pytest.approx(0.9)
    for s in range(31, 80):
        c.observe(c.at(s), 1.0)
    assert c.current(80) == pytest.approx(0.25)  # never below the start
    before = c.current(80)
    c.observe(c.at(80), None)  # nothing attacked: no move
    assert c.current(81) == before


def test_adaptive_ignores_replayed_steps_and_its_state_round_trips() -> None:
    c = schedule("adaptive", curriculum_replay=1.0, adaptive_rate=0.2)
    c.adaptive_value = 0.8
    d = c.at(0)
    assert d.replay and d.value < 0.8
    c.observe(d, 0.0)
    assert c.current(1) == 0.8
    again = schedule("adaptive", curriculum_replay=1.0, adaptive_rate=0.2)
    again.load_state(c.to_state())
    assert again.current(5) == 0.8


def test_curriculum_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="unknown curriculum 'cubic'"):
        TrainConfig(method=("codeswitch",), curriculum="cubic")
    with pytest.raises(ConfigError, match="'standard' has no difficulty"):
        TrainConfig(curriculum="linear")
    with pytest.raises(ConfigError, match="relevance.*embeddings only"):
        TrainConfig(method=("adv",), curriculum="relevance")
    with pytest.raises(ConfigError, match=r"curriculum_start must lie in \(0, 1\]"):
        TrainConfig(method=("adv",), curriculum="linear", curriculum_start=0.0)
    with pytest.raises(ConfigError, match=r"adv_sub_share must lie in \[0, 1\], got 1.5"):
        TrainConfig(method=("adv-sub",), adv_sub_share=1.5)


# ------------------------------------------------------------ what it changes


def _pairs() -> list[PairExample]:
    texts = [
        ("The big dog ran quickly to the large house.", "A small cat sleeps near the house."),
        ("The old man walks to the big river.", "The man is happy and the dog is big."),
        ("Children play in the large garden every day.", "The garden is small and old."),
    ]
    return [PairExample(id=str(i), text_a=a, text_b=b, label=i % 3, lang="en") for i, (a, b) in enumerate(texts)]


def test_strength_scales_the_rate_and_the_languages_mixed_in() -> None:
    config = TrainConfig(method=("codeswitch",), eval_langs=("de", "zh", "sw"), codeswitch_rate=1.0).resolved()
    augment = build_augmenter(config, load_run_lexicon(config))
    assert augment is not None and augment.target_langs == ("de", "zh", "sw")
    examples = _pairs() * 20
    _, full = augment(examples, step=3)
    _, easy = augment(examples, step=3, strength=0.3)
    full_counts, easy_counts = full.summary()["codeswitch"], easy.summary()["codeswitch"]
    assert easy_counts["changed"] < full_counts["changed"]
    # ceil(0.3 x 3) = 1 language: only German.
    assert set(easy_counts["changed_share_by_lang"]) == {"de"}
    assert len(full_counts["changed_share_by_lang"]) > 1
    # Strength 1 is the method itself, draw for draw.
    again, _ = augment(examples, step=3, strength=1.0)
    assert again == augment(examples, step=3)[0]


def test_protected_spans_are_never_rewritten() -> None:
    config = TrainConfig(method=("rs-da",), synonym_rate=1.0).resolved()
    augment = build_augmenter(config, load_run_lexicon(config))
    assert augment is not None
    examples = _pairs()
    # Protect every word of text_a ("the big dog ..."): only text_b may change.
    protect = [[[(0, len(ex.text_a))], []] for ex in examples]
    out, _ = augment(examples, step=0, protect=protect)
    out_pairs = [o for o in out if isinstance(o, PairExample)]
    assert len(out_pairs) == len(out)  # pairs in, pairs out
    assert [ex.text_a for ex in out_pairs] == [ex.text_a for ex in examples]
    assert any(o.text_b != e.text_b for o, e in zip(out_pairs, examples))


def test_relevance_protects_the_most_relevant_words(tiny: str) -> None:  # noqa: F811
    task = get_task("xnli")
    model, tokenizer = task.load_model(tiny)
    config = TrainConfig(method=("codeswitch",), eval_langs=("de", "zh", "sw")).resolved()
    loaded = load_run_lexicon(config)
    assert loaded is not None
    lexicon, _ = loaded
    attack = AttackConfig(mode="mixed", target_langs=("de", "zh", "sw"))
    settings = InputSettings(max_length=64)
    examples = _pairs()
    model.train()
    opened = relevance_protection(task, model, tokenizer, settings, examples, lexicon, attack, open_share=0.5)
    assert model.training  # mode restored
    assert all(p.grad is None for p in model.parameters())  # parameter gradients untouched
    # Brute force: each changeable word's |gradient x input|, from the victim directly.
    model.eval()
    spaces = build_space(task, examples, lexicon, attack)
    words = [sorted({(s.slot, s.start, s.end) for s in sp.substitutions}) for sp in spaces]
    grads = victim_for(task, model, tokenizer, settings).gradient(examples)
    tokens, owner = align_words(words, grads)
    dim = grads.grad.shape[-1]
    contrib = (grads.embeds.reshape(-1, dim)[tokens] * grads.grad.reshape(-1, dim)[tokens]).sum(-1)
    relevance = np.zeros(sum(len(w) for w in words))
    np.add.at(relevance, owner, contrib.numpy())
    at = 0
    for i, ws in enumerate(words):
        scores = np.abs(relevance[at : at + len(ws)])
        at += len(ws)
        protected = {(slot, a, b) for slot, spans in enumerate(opened[i]) for a, b in spans}
        kept_open = [w for w in ws if w not in protected]
        assert len(kept_open) == int(np.ceil(0.5 * len(ws) - 1e-9))
        if kept_open and protected:
            top_open = max(scores[ws.index(w)] for w in kept_open)
            low_protected = min(scores[ws.index(w)] for w in protected)
            assert top_open <= low_protected + 1e-6
    everything = relevance_protection(task, model, tokenizer, settings, examples, lexicon, attack, open_share=1.0)
    assert all(spans == [] for ex in everything for spans in ex)


# ------------------------------------------------------------ end to end


@pytest.mark.parametrize("kind", ["linear", "step", "relevance", "adaptive"])
def test_every_curriculum_trains_and_logs_each_step(tiny: str, tmp_path: Path, kind: str) -> None:  # noqa: F811
    # adaptive reads the errors of the embedding adversary's pass; the others need no adv.
    method = ("codeswitch", "adv") if kind == "adaptive" else ("codeswitch",)
    config = small("pawsx", tiny, tmp_path / "run", max_steps=3, eval_every=3, method=method, curriculum=kind)
    result = train_run(config)
    assert result["curriculum"] == kind
    logged = _records(tmp_path / "run", "curriculum")
    assert [r["step"] for r in logged] == [1, 2, 3]
    assert logged[0]["difficulty" if kind != "relevance" else "open_share"] == pytest.approx(0.25)
    if kind == "adaptive":
        assert all(r["observed"] is not None and 0.0 <= r["observed"] <= 1.0 for r in logged)


def test_a_curriculum_starting_at_full_strength_is_the_plain_method(tiny: str, tmp_path: Path) -> None:  # noqa: F811
    settings = dict(max_steps=3, method=("rs-da", "adv"), adv_init_mag=0.2)
    plain = train_run(small("pawsx", tiny, tmp_path / "plain", **settings))
    full = train_run(small("pawsx", tiny, tmp_path / "full", curriculum="linear", curriculum_start=1.0, **settings))
    full.pop("curriculum")
    assert full == plain
    easy = train_run(small("pawsx", tiny, tmp_path / "easy", curriculum="linear", curriculum_replay=0.0, **settings))
    easy.pop("curriculum")
    assert easy["edit_rates"]["synonym"]["changed"] < plain["edit_rates"]["synonym"]["changed"]


def train_run(config: TrainConfig) -> dict:
    from robust_xlt.training import train

    return train(config).results

