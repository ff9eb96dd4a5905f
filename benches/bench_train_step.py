"""One XNLI training step: a bare transformers + torch loop against robust-xlt's own
standard step, and the same with the word embeddings frozen.

    pytest benches/bench_train_step.py --benchmark-only   # timed: e5-small, seconds a step
    pytest benches/                                        # each case one step, tiny model

All three run the same fixed batches in turn (batch 32, max length 128) of English
MultiNLI pairs (english-train/mnli/train-10k.tsv of the shared data, else XNLI
dev-en, else the smoke sample, which is not comparable), from a model initialised
with the same seed:

- bare loop: AutoModelForSequenceClassification with labels, backward, clip the
  gradient norm to 1.0, AdamW(fused=True) step, zero_grad. No robust-xlt code.
- standard: what one step of `robust_xlt.training.loop.train` does for method
  standard: the task record's batch, trim_padding, the step function of make_step,
  clipping of the trained parameters, the loop's optimizer and schedule.
- standard, frozen: the same with freeze_embeddings, as the loop sets it up.

Two untimed steps of a throwaway model go first, and each case has a warm-up step of
its own. The goal: standard within 1.05x of the bare loop (robust-xlt adds no cost of its own);
frozen at least 1.7x faster (the dense gradient and Adam update of the 250k-row
embedding matrix are most of a CPU step). The ratios are printed after the run.
"""

from __future__ import annotations

import gc
import itertools
import os
from pathlib import Path
from typing import Any

import pytest
import torch

BATCH_SIZE = 32
MAX_LENGTH = 128
WARMUP_ROUNDS = 1  # the first step allocates Adam's state and warms the kernels
ROUNDS = 3  # a step takes seconds on a CPU
N_BATCHES = WARMUP_ROUNDS + ROUNDS  # each round its own batch, the same ones for all three
MNLI = "english-train/mnli/train-10k.tsv"
XNLI_EN = "xnli/dev-en.tsv"
NAMES = {"bare_loop": "bare loop", "standard": "standard", "standard_frozen": "standard, frozen embeddings"}
pytestmark = pytest.mark.benchmark(group="train-step")

RESULTS: dict[str, float] = {}  # test name -> mean s/step, when timed


@pytest.fixture(scope="module")
def timed(pytestconfig: pytest.Config) -> bool:
    return not pytestconfig.getoption("benchmark_disable", False)


@pytest.fixture(scope="module")
def model_path(timed: bool) -> str:
    """e5-small when timed; the tiny random model when the bodies just run once."""
    from robust_xlt.models import resolve_model

    name = "e5-small" if timed else "tiny"
    try:
        return resolve_model(name)
    except Exception as exc:  # noqa: BLE001 - any failure to prepare it means: cannot run here
        pytest.skip(f"the {name} model cannot be prepared: {type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_path)


@pytest.fixture(scope="module")
def source(shared_data) -> tuple[Path, str]:
    """(file, how to name it) of the English training pairs."""
    from robust_xlt.data import sample_path

    for relative in (MNLI, XNLI_EN):
        found = shared_data.path(relative)
        if found is not None:
            return found, shared_data.source(relative)
    return sample_path("xnli", "train", "en"), f"the smoke sample ({MNLI} and {XNLI_EN} not in {shared_data.root}): not comparable"


@pytest.fixture(scope="module")
def batches(source: tuple[Path, str], timed: bool) -> list[list[Any]]:
    from robust_xlt.tasks import get_task

    examples = get_task("xnli").load_file(source[0], "en")
    count = N_BATCHES if timed else 1
    # The first pairs of the file (the smoke sample, shorter than that, repeated).
    pool = list(itertools.islice(itertools.cycle(examples), BATCH_SIZE * count))
    return [pool[i * BATCH_SIZE : (i + 1) * BATCH_SIZE] for i in range(count)]


@pytest.fixture(scope="module")
def benchmark_data(source: tuple[Path, str], batches: list[list[Any]], model_path: str, timed: bool) -> str:
    pairs = sum(len(b) for b in batches)
    model = "e5-small" if timed else f"the tiny random model ({model_path}), untimed"
    return f"{len(batches)} batch(es) of {BATCH_SIZE}, {pairs} pairs in all, the first pairs of {source[1]}; {model}"


@pytest.fixture(scope="module", autouse=True)
def ratio_table(bench_report, source: tuple[Path, str]):
    """After the module: mean s/step and the ratio to the bare loop, into the report."""
    load_before = os.getloadavg()
    yield
    if not RESULTS:
        return
    bare = RESULTS.get("bare_loop")
    lines = [
        f"e5-small, XNLI task, batch {BATCH_SIZE}, max length {MAX_LENGTH}, {ROUNDS} timed steps after {WARMUP_ROUNDS} "
        f"warm-up, torch {torch.__version__} on {torch.get_num_threads()} thread(s); data {source[1]}",
        f"load average (1/5/15 min) {'/'.join(f'{x:.2f}' for x in load_before)} before, "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} after",
        "",
        "| benchmark | mean s/step | ratio to bare loop |",
        "|---|---:|---:|",
    ]
    for name, label in NAMES.items():
        if name in RESULTS:
            ratio = f"{RESULTS[name] / bare:.3f}x" if bare else "-"
            lines.append(f"| {label} | {RESULTS[name]:.3f} | {ratio} |")
    if "standard" in RESULTS and "standard_frozen" in RESULTS:
        lines += ["", f"standard / frozen: frozen embeddings {RESULTS['standard'] / RESULTS['standard_frozen']:.2f}x faster"]
    bench_report.section("train-step: s/step and ratios", lines)


@pytest.fixture(scope="module", autouse=True)
def process_warmup(timed: bool, model_path: str, tokenizer: Any, batches: list[list[Any]]) -> None:
    """Two untimed bare-loop steps on a throwaway model before anything is timed: the
    first model trained in a process stays slower after its own first step (see
    scripts/step_ratios.py), which would flatter whichever case runs first."""
    if timed:
        step = _bare_loop_step(_fresh_model(model_path), tokenizer)
        for examples in batches[:2]:
            step(examples)


def _run(benchmark, name: str, step, batches: list[list[Any]]) -> None:
    rotation = itertools.cycle(batches)
    losses: list[float] = []
    benchmark.pedantic(lambda: losses.append(step(next(rotation))), rounds=ROUNDS, warmup_rounds=WARMUP_ROUNDS, iterations=1)
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    if not benchmark.disabled and benchmark.stats:
        RESULTS[name] = benchmark.stats.stats.mean


def _fresh_model(model_path: str) -> Any:
    """The model every case starts from: the pretrained encoder and a new 3-class head
    drawn from the same seed, the call `Task.load_model` makes (the tokenizer, the other
    half of that call, is loaded once for all cases), the previous case's memory freed."""
    from transformers import AutoModelForSequenceClassification

    gc.collect()
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=3)


def _bare_loop_step(model: Any, tokenizer: Any):
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0, fused=True)

    def step(examples: list[Any]) -> float:
        enc = tokenizer(
            [ex.text_a for ex in examples],
            [ex.text_b for ex in examples],
            truncation=True,
            max_length=MAX_LENGTH,
            padding="longest",
            return_tensors="pt",
        )
        loss = model(**enc, labels=torch.tensor([ex.label for ex in examples])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        return float(loss.item())

    return step


def test_bare_loop(benchmark, model_path: str, tokenizer: Any, batches: list[list[Any]]) -> None:
    _run(benchmark, "bare_loop", _bare_loop_step(_fresh_model(model_path), tokenizer), batches)


def _robust_xlt_step(model_path: str, tokenizer: Any, freeze: bool):
    """One step of the training loop (training/loop.py), set up as the loop sets it up."""
    from robust_xlt.tasks import InputSettings, get_task
    from robust_xlt.training import TrainConfig, rng
    from robust_xlt.training.loop import _linear_schedule, _optimizer, optimizer_step
    from robust_xlt.training.methods import make_step

    config = TrainConfig(task="xnli", method=("standard",), freeze_embeddings=freeze).resolved()
    assert (config.batch_size, config.max_length) == (BATCH_SIZE, MAX_LENGTH), "the loop's XNLI defaults changed"
    task = get_task("xnli")
    device = torch.device("cpu")
    assert task.num_labels == 3
    model = _fresh_model(model_path)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    model.to(device)
    model.train()
    settings = InputSettings(max_length=MAX_LENGTH)
    embedding_std = float(model.get_input_embeddings().weight.detach().float().std())
    specials = [i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id]
    step_fn = make_step(config, specials, embedding_std)
    optimizer = _optimizer(model, config, device)
    total = 1000  # the schedule's length only sets the learning rate, not the cost
    scheduler = _linear_schedule(optimizer, int(config.warmup_ratio * total), total)
    steps = itertools.count()

    def step(examples: list[Any]) -> float:
        batch = task.train_batch(tokenizer, examples, settings)
        generator = rng.torch_generator(config.seed, next(steps), rng.EMBEDDING)
        loss, _ = optimizer_step(model, batch, step_fn, optimizer, scheduler, generator, config, device)
        return loss

    return step


def test_standard(benchmark, model_path: str, tokenizer: Any, batches: list[list[Any]]) -> None:
    _run(benchmark, "standard", _robust_xlt_step(model_path, tokenizer, freeze=False), batches)


def test_standard_frozen(benchmark, model_path: str, tokenizer: Any, batches: list[list[Any]]) -> None:
    _run(benchmark, "standard_frozen", _robust_xlt_step(model_path, tokenizer, freeze=True), batches)
