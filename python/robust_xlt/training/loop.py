"""The training run, top to bottom: setup, train, evaluate, save.

Data order: epoch ``e`` visits the training examples in a permutation drawn from (seed,
e), in batches of ``batch_size`` (the last one smaller). Step ``s`` therefore has a fixed
batch, so a resumed run needs only the step number to continue the data stream.

Model selection: the source-language dev set is scored at every evaluation step; the
best score so far (ties keep the earlier step) is saved as ``best/``, and after training
that model is evaluated on every language. A resume checkpoint is written at the first
evaluation ``checkpoint_interval`` seconds or more after the last one, and after the
last step. With ``oracle_dev_examples`` each target language's oracle dev rows are
scored at each evaluation step too; the trainable weights of a step some language's
rows chose are kept (checkpoint.py), and after training each language is scored once
with the model of its step (results.json's ``oracle``). Under a launcher the steps are shared out
across processes (training/parallel.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robust_xlt.adversary import AttackConfig
from robust_xlt.evaluation import (
    best_dev_records,
    evaluate,
    evaluate_generalized,
    evaluate_languages,
    markdown_table,
    matrix_table,
    oracle_selection,
    summarize,
    write_predictions,
)
from robust_xlt.folder_lock import FolderBusyError, FolderLock
from robust_xlt.tasks import InputSettings, Task, to_device, trim_padding
from robust_xlt.training import checkpoint as ckpt
from robust_xlt.training import rng
from robust_xlt.training.adversarial import AdversaryStats, build_adversary, relevance_protection
from robust_xlt.training.augment import EditStats, build_augmenter, codeswitch_targets, load_run_lexicon
from robust_xlt.training.batches import micro_batches
from robust_xlt.training.config import RESUME_MAY_CHANGE, ConfigError, TrainConfig, to_toml
from robust_xlt.training.curriculum import Curriculum
from robust_xlt.training.data import SMOKE_NOTICE, check_sources, load_task_data
from robust_xlt.training.methods import ErrorMeter, make_step
from robust_xlt.training.parallel import Precision, Processes, rank_seed
from robust_xlt.training.outputs import (
    CONFIG_FILE,
    METRICS_FILE,
    OUTPUT_FILES,
    RESULTS_JSON,
    RESULTS_MD,
    SPLITS_FILE,
    MetricsLog,
    Progress,
    write_json,
    write_text_atomic,
)

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """What the loop carries from step to step besides model and optimizer; saved in
    the resume checkpoint."""

    step: int = 0
    best_score: float | None = None
    best_step: int | None = None
    loss_sum: float = 0.0  # over the current log interval
    loss_steps: int = 0
    edits: dict[str, Any] = field(default_factory=lambda: EditStats().to_state())  # summed over the run
    adversary: dict[str, Any] = field(default_factory=lambda: AdversaryStats().to_state())  # adv-sub, summed over the run
    curriculum: dict[str, Any] = field(default_factory=dict)  # the schedule's state (adaptive's level)
    oracle: list[dict[str, Any]] = field(default_factory=list)  # per evaluation step and language (oracle_dev_examples)
    # Seconds spent up to the checkpoint (train, step, eval, checkpoint), so that a
    # resumed run's final record counts the time before the cut too.
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    output_dir: Path
    results: dict[str, Any]
    table: str


class BatchOrder:
    """Which training examples step ``s`` uses: a pure function of (seed, s)."""

    def __init__(self, n_examples: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n_examples, batch_size, seed
        self.steps_per_epoch = math.ceil(n_examples / batch_size)
        self._epoch, self._perm = -1, np.arange(0)

    def indices(self, step: int) -> list[int]:
        epoch, position = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            generator = np.random.default_rng(rng.derive_seed(self.seed, epoch, rng.DATA_ORDER))
            self._epoch, self._perm = epoch, generator.permutation(self.n)
        return self._perm[position * self.batch_size : (position + 1) * self.batch_size].tolist()


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> RunResult:
    """Fine-tune, select on the dev set, evaluate every language.

    ``resume`` continues from ``output_dir/resume/`` (or returns the results of a run
    that already finished); ``overwrite`` clears a previous run's outputs first.
    ``on_step(step)`` runs after each optimizer step and its checkpoint, if any (tests
    use it to interrupt a run).
    """
    # Process 0 holds the output folder's lock from its first look at the folder to the
    # last file it writes, so a second run (or a killed launcher's surviving workers)
    # cannot write there at the same time; the ExitStack releases it however this ends.
    with contextlib.ExitStack() as held:
        return _train(config, held, resume=resume, overwrite=overwrite, on_step=on_step)


def _train(
    config: TrainConfig,
    held: contextlib.ExitStack,
    *,
    resume: bool,
    overwrite: bool,
    on_step: Callable[[int], None] | None,
) -> RunResult:
    """``train``'s body; ``held`` keeps the folder's lock until it returns."""
    # ------------------------------------------------------------------ setup
    c = config.resolved()
    task = c.task_record
    out = Path(c.output_dir or ".")
    procs = Processes.start(c.device)  # one process, or this one of a launcher's group
    check_sources(c)
    _check_model_limits(c)
    if c.uses_smoke_sample and procs.main:
        log.warning(SMOKE_NOTICE)
    # Process 0 alone looks at (and cleans) the folder; the others read what it found.
    prepared: dict[str, Any] = {}

    def prepare() -> str | None:
        held.callback(_output_lock(out, "this run").release)
        prepared["payload"] = _prepare_output_dir(out, c, resume=resume, overwrite=overwrite)
        return "resume" if isinstance(prepared["payload"], dict) else prepared["payload"]

    found = procs.first_decides(prepare)
    payload = prepared["payload"] if procs.main else (ckpt.load_resume(out) if found == "resume" else found)
    if payload == "finished":
        if procs.main:
            _claim_output_dir(out, clear=False)  # a kill while it deleted its checkpoint left a part
        return _finished_run(out)

    threads = c.threads or max(1, _available_cores() // procs.local_world)
    torch.set_num_threads(threads)
    device = procs.device or _device(c.device)
    # Not config fields but they change the numbers: a resumed run must match them.
    runtime = {"device": str(device), "threads": threads, "torch": torch.__version__}
    if procs.world > 1:
        runtime["processes"] = procs.world
    if isinstance(payload, dict):
        _check_same_runtime(out, payload["runtime"], runtime)
    rng.seed_everything(c.seed)  # every process: the same new head weights below
    data = load_task_data(c)
    log.info(
        "data: train %d %s examples (%s); dev %d %s (%s); eval %s",
        len(data.train),
        c.source_lang,
        data.describe["train"],
        len(data.dev),
        c.dev_lang,
        data.describe["dev"],
        ", ".join(f"{lang} {len(exs)}" for lang, exs in data.eval.items()),
    )
    lexicon = load_run_lexicon(c)  # before the model: a bad lexicon fails in seconds
    augmenter = build_augmenter(c, lexicon)
    model, tokenizer = task.load_model(c.model)
    if procs.rank > 0:
        rng.seed_everything(rank_seed(c.seed, procs.rank))  # dropout masks of its own
        augmenter = None if augmenter is None else dataclasses.replace(augmenter, seed=rank_seed(c.seed, procs.rank))
    freeze_as_configured(model, c)
    model.to(device)
    model.train()
    settings = InputSettings.of(c, qa_tokenizer=_qa_tokenizer(task, tokenizer))
    # Inputs the model cannot read fail now, naming the example and its file, not after training.
    sources = data.splits["sources"]
    split_from = sources["eval"][c.source_lang] if data.splits["pool"] == "eval" else sources["train"]
    dev = f"dev data ({data.describe['dev']})" + ("" if c.dev_data else f" from {split_from}")
    inputs = [(f"training data {sources['train']}", data.train), (dev, data.dev)]
    inputs += [(f"{lang} evaluation data {sources['eval'][lang]}", exs) for lang, exs in data.eval.items()]
    inputs += [(f"{lang} oracle dev rows of {sources['eval'][lang]}", exs) for lang, exs in data.oracle_dev.items()]
    for where, examples in inputs:
        task.check_inputs(tokenizer, examples, settings, where)
    if procs.main:
        _claim_output_dir(out, clear=payload is None and (resume or overwrite))
    # The pretrained embedding scale sets rs-rp's noise; measured before any resume so a
    # resumed run uses the same value.
    embedding_std = float(model.get_input_embeddings().weight.detach().float().std())
    # <unk> stands for a real word, so noise and adversaries may move it like any other.
    specials = [i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id]
    order = BatchOrder(len(data.train), c.batch_size, c.seed)
    assert c.epochs is not None and c.lr is not None
    total = c.max_steps or c.epochs * order.steps_per_epoch
    curriculum = Curriculum(c, total)
    # Without a word adversary, an adaptive schedule reads the perturbed passes' errors.
    meter = ErrorMeter() if c.curriculum == "adaptive" and not c.adversary_method else None
    precision = Precision(c.precision, device)
    step_fn = make_step(c, specials, embedding_std, meter, precision)
    adversary = None
    relevance_config = None
    if lexicon is not None:
        translates = "codeswitch" in c.method or (c.adversary_method is not None and c.adv_sub_mode != "synonym")
        targets = codeswitch_targets(c, lexicon[0]) if translates else ()
        if c.adversary_method:
            adversary = build_adversary(c, task, tokenizer, settings, lexicon[0], targets)
            adversary = dataclasses.replace(adversary, seed=rank_seed(c.seed, procs.rank))
        if c.curriculum == "relevance":
            # The words a relevance curriculum orders: those some method could change.
            relevance_config = AttackConfig(mode="mixed" if targets else "synonym", target_langs=targets or None, stopwords=c.stopwords)  # type: ignore[arg-type]
    optimizer = _optimizer(model, c, device)
    scheduler = _linear_schedule(optimizer, math.ceil(c.warmup_ratio * total), total)
    state = RunState()
    metrics = MetricsLog(out / METRICS_FILE, enabled=procs.main)  # process 0 writes every output
    best = ckpt.BestModel()
    _check_same_weights(procs, model)
    if isinstance(payload, dict):
        state = _restore(payload, model, optimizer, scheduler, device, procs.rank)
        precision.load_state(payload.get("precision", {}))
        curriculum.load_state(state.curriculum)
        metrics.keep_until(state.step)
        log.info("resumed %s at step %d of %d", out, state.step, total)
    else:
        metrics.keep_until(-1)
        if procs.main:
            write_text_atomic(out / CONFIG_FILE, to_toml(c))
            write_json(out / SPLITS_FILE, data.splits)
    edits = EditStats.from_state(state.edits)
    adversary_stats = AdversaryStats.from_state(state.adversary)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info(
        "training %s on %s with %s: %d steps (%d per epoch, batch %d in %d pass(es)), lr %.2g, "
        "%.1fM of %.1fM parameters trained%s, on %s with %d thread(s)%s",
        c.model,
        c.task,
        "+".join(c.method),
        total,
        order.steps_per_epoch,
        c.batch_size,
        c.grad_accumulation,
        c.lr,
        trainable / 1e6,
        sum(p.numel() for p in model.parameters()) / 1e6,
        " (word embeddings frozen)" if c.freeze_embeddings else "",
        device,
        threads,
        f" in each of {procs.world} processes" if procs.world > 1 else "",
    )

    # ------------------------------------------------------------------ train
    progress = Progress(total, state.step, c.log_every)
    eval_every = c.eval_every or order.steps_per_epoch
    started = last_checkpoint = time.perf_counter()
    before = dict(state.seconds)  # a resumed run's time up to its checkpoint
    step_seconds, eval_seconds, checkpoint_seconds = (before.get(k, 0.0) for k in ("step", "eval", "checkpoint"))

    def elapsed() -> float:
        return before.get("train", 0.0) + time.perf_counter() - started
    for step in range(state.step, total):
        step_start = time.perf_counter()
        global_batch = order.indices(step)
        examples = [data.train[i] for i in procs.block(global_batch)]  # this process's block
        share = len(examples) / len(global_batch)  # of the global batch's mean loss
        difficulty = curriculum.at(step)

        def protected(batch_examples: list[Any]) -> Any:
            # Relevance: this step's most relevant words are left alone.
            if relevance_config is None or difficulty.open_share >= 1.0:
                return None
            assert lexicon is not None
            return relevance_protection(
                task, model, tokenizer, settings, batch_examples, lexicon[0], relevance_config, difficulty.open_share
            )

        if augmenter is not None:
            examples, step_edits = augmenter(examples, step, difficulty.value, protected(examples))
            step_edits = _merged(procs, step_edits, EditStats)
            edits.merge(step_edits)
            metrics.write({"event": "edits", "step": step + 1, "lang": c.source_lang, **step_edits.summary()})
        step_attack = None
        if adversary is not None:
            examples, step_attack = adversary(model, examples, step, difficulty.value, protected(examples))
            step_attack = _merged(procs, step_attack, AdversaryStats)
            if step_attack is not None:
                adversary_stats.merge(step_attack)
                metrics.write({"event": "adversary", "step": step + 1, **step_attack.summary()})
        aug_seconds = time.perf_counter() - step_start
        batch = task.train_batch(tokenizer, examples, settings) if examples else None
        generator = rng.torch_generator(rank_seed(c.seed, procs.rank), step, rng.EMBEDDING)
        loss, lr = optimizer_step(
            model, batch, step_fn, optimizer, scheduler, generator, c, device, difficulty.value, meter, procs=procs, precision=precision, share=share
        )
        if curriculum.active:
            observed = step_attack.success_rate if step_attack is not None else _observed_errors(procs, meter)
            curriculum.observe(difficulty, observed)
            metrics.write(
                {
                    "event": "curriculum",
                    "step": step + 1,
                    "difficulty": round(difficulty.value, 6),
                    "open_share": round(difficulty.open_share, 6),
                    "replay": difficulty.replay,
                    "observed": None if observed is None else round(observed, 6),
                    "next": round(curriculum.current(step + 1), 6),
                }
            )
        state.step = step + 1
        state.loss_sum += loss
        state.loss_steps += 1
        state.edits = edits.to_state()
        state.adversary = adversary_stats.to_state()
        state.curriculum = curriculum.to_state()
        seconds = time.perf_counter() - step_start
        step_seconds += seconds
        progress.step(seconds, aug_seconds)

        if state.step % c.log_every == 0 or state.step == total:
            mean_loss = state.loss_sum / state.loss_steps
            timing = progress.interval(state.step, mean_loss, lr)
            metrics.write({"event": "train", "step": state.step, "loss": mean_loss, "lr": lr, **timing})
            state.loss_sum, state.loss_steps = 0.0, 0
        if state.step % eval_every == 0 or state.step == total:
            due = False
            if procs.main:  # evaluation is process 0's; the others wait at the next collective
                eval_start = time.perf_counter()
                dev_scores, _ = evaluate(task, model, tokenizer, data.dev, settings, device)
                seconds = time.perf_counter() - eval_start
                eval_seconds += seconds
                score = dev_scores[c.selection_metric]
                improved = state.best_score is None or score > state.best_score
                metrics.write(
                    {"event": "dev", "step": state.step, "lang": c.dev_lang, **dev_scores, "best": improved, "seconds": round(seconds, 2)}
                )
                log.info("dev %s at step %d: %s %.2f%s (%.1f s)", c.dev_lang, state.step, c.selection_metric, score, " (best)" if improved else "", seconds)
                if data.oracle_dev:
                    oracle_start = time.perf_counter()
                    records = _oracle_dev_step(task, model, tokenizer, data, settings, device, state.step)
                    state.oracle += records
                    for record in records:
                        metrics.write({"event": "oracle", **record})
                    chosen = sorted(lang for lang, r in best_dev_records(state.oracle, task.selection_metric).items() if r["step"] == state.step)
                    if chosen:  # scored with this model after training: its weights are kept till then
                        ckpt.save_step_weights(out, model, state.step)
                    seconds = time.perf_counter() - oracle_start
                    eval_seconds += seconds
                    log.info(
                        "oracle at step %d: %d target languages' dev rows scored, best so far for %s (%.1f s)",
                        state.step,
                        len(records),
                        ", ".join(chosen) or "none",
                        seconds,
                    )
                if improved:
                    state.best_score, state.best_step = score, state.step
                    best.update(model, {"step": state.step, "metric": c.selection_metric, "score": score, "dev": data.describe["dev"], "lang": c.dev_lang})
                # The last step's checkpoint too: a final evaluation that fails or is killed
                # is done again from it, not after the training since the last one.
                due = c.checkpoint_interval == 0 or time.perf_counter() - last_checkpoint >= c.checkpoint_interval or state.step == total
            # One decision for all: every process's random state goes into the checkpoint.
            due = procs.share(due)
            others = procs.gather(rng.capture())[1:] if due and procs.world > 1 else []
            if procs.main and due:
                # best/ must be on disk beside the checkpoint that records its step, and
                # before the final evaluation reads it.
                ck_start = time.perf_counter()
                state.seconds = {"train": elapsed(), "step": step_seconds, "eval": eval_seconds, "checkpoint": checkpoint_seconds}
                best.flush(out, model, tokenizer, to_toml(c))
                size = ckpt.write_resume(out, **_checkpoint(c, state, model, optimizer, scheduler, order, runtime, precision, others))
                seconds = time.perf_counter() - ck_start
                checkpoint_seconds += seconds
                last_checkpoint = time.perf_counter()
                ck_share = checkpoint_seconds / max(elapsed(), 1e-9)
                metrics.write({"event": "checkpoint", "step": state.step, "bytes": size, "seconds": round(seconds, 2)})
                # Swapped in after its record: a run resumed from it keeps the record, one
                # killed before the swap resumes from the previous one and writes it again.
                ckpt.commit_resume(out)
                if data.oracle_dev:  # steps the committed state no longer needs
                    ckpt.prune_step_weights(out, {r["step"] for r in best_dev_records(state.oracle, task.selection_metric).values()})
                log.info(
                    "checkpoint at step %d: resume %.0f MB + best model in %.1f s (checkpoints %.1f%% of this run's time so far)",
                    state.step,
                    size / 1e6,
                    seconds,
                    100 * ck_share,
                )
            procs.wait()
        if on_step is not None:
            on_step(state.step)
    progress.close()
    train_seconds = elapsed()

    # --------------------------------------------------------------- evaluate
    del model, optimizer, scheduler

    def finish() -> RunResult:
        best_folder = ckpt.best_dir(out)
        best_info = ckpt.read_best_info(best_folder)
        model = task.load_weights(best_folder).to(device)
        # The oracle's step weights hold what trained: the reloaded model must count
        # the same parameters as trained.
        freeze_as_configured(model, c)
        evaluated = evaluate_languages(task, model, tokenizer, data.eval, settings, device)
        summary = summarize({lang: scores for lang, (scores, _) in evaluated.items()}, task.metrics, c.source_lang, c.low_resource_langs or ())
        results = {
            "task": c.task,
            "model": c.model,
            "method": list(c.method),
            "seed": c.seed,
            "steps": total,
            "best_step": best_info["step"],
            "selection": {
                "lang": best_info.get("lang", c.dev_lang),
                "metric": best_info["metric"],
                "score": best_info["score"],
                "dev": best_info["dev"],
            },
            "data": data.describe,
            "smoke_run": c.uses_smoke_sample,
            "edit_rates": edits.summary(),
            **({"adversary": adversary_stats.summary(timed=False)} if adversary is not None else {}),
            **({"curriculum": c.curriculum} if curriculum.active else {}),
            **summary,
        }
        if data.oracle_dev:
            results["oracle"] = oracle_selection(
                _oracle_scores(task, model, tokenizer, data, settings, device, out, state.oracle, best_info["step"], evaluated),
                summary, task.selection_metric, task.metrics, c.low_resource_langs or (), {lang: len(exs) for lang, exs in data.oracle_dev.items()}
            )

        # ------------------------------------------------------------------- save
        table = markdown_table(summary)
        for lang, (_, records) in evaluated.items():
            write_predictions(out, lang, records)
        write_json(out / RESULTS_JSON, results)
        write_text_atomic(out / RESULTS_MD, _markdown_report(c, results, table))
        metrics.write(
            {
                "event": "final",
                "step": total,
                "train_seconds": round(train_seconds, 2),
                "step_seconds": round(step_seconds, 2),
                "first_step_seconds": None if progress.first_step_seconds is None else round(progress.first_step_seconds, 2),
                "eval_seconds": round(eval_seconds, 2),
                "checkpoint_seconds": round(checkpoint_seconds, 2),
                **summary,
            }
        )
        ckpt.remove_resume(out)
        ckpt.remove_step_weights(out)
        log.info(
            "results in %s (best step %d); of %.0f s: steps %.0f s, dev evaluations %.0f s, checkpoints %.1f s",
            out,
            best_info["step"],
            train_seconds,
            step_seconds,
            eval_seconds,
            checkpoint_seconds,
        )
        if c.uses_smoke_sample:
            log.warning(SMOKE_NOTICE)
        return RunResult(out, results, table)

    # Process 0 evaluates and writes; the others get its result (or its error).
    return procs.first_decides(finish)  # type: ignore[no-any-return]


def _oracle_dev_step(
    task: Task, model: Any, tokenizer: Any, data: Any, settings: InputSettings, device: torch.device, step: int
) -> list[dict[str, Any]]:
    """Each target language's oracle dev rows scored with the model of ``step``: one
    record per language (``step``, ``lang``, ``dev`` scores)."""
    dev = evaluate_languages(task, model, tokenizer, data.oracle_dev, settings, device)
    return [{"step": step, "lang": lang, "dev": scores} for lang, (scores, _) in dev.items()]


def _oracle_scores(
    task: Task,
    model: Any,
    tokenizer: Any,
    data: Any,
    settings: InputSettings,
    device: torch.device,
    out: Path,
    records: list[dict[str, Any]],
    best_step: int,
    evaluated: dict[str, Any],
) -> list[dict[str, Any]]:
    """Per target language, its chosen step's record with the evaluation scores of that
    step's model: the source-selected model's (``evaluated``, already scored) where the
    steps agree, else ``model`` (loaded from best/) given the step's saved weights and
    scored on the languages that chose it. Leaves ``model`` holding the last step's."""
    chosen = best_dev_records(records, task.selection_metric)
    out_records = []
    for step in sorted({r["step"] for r in chosen.values()}):
        # A checkpoint of an older version holds every step's evaluation: kept as it is.
        out_records += [dict(r) for r in chosen.values() if r["step"] == step and "eval" in r]
        langs = [lang for lang, r in chosen.items() if r["step"] == step and "eval" not in r]
        if not langs:
            continue
        if step == best_step:
            scores = {lang: evaluated[lang][0] for lang in langs}
        else:
            ckpt.load_step_weights(out, model, step)
            part = evaluate_languages(task, model, tokenizer, {lang: data.eval[lang] for lang in langs}, settings, device)
            scores = {lang: part[lang][0] for lang in langs}
        out_records += [{**chosen[lang], "eval": scores[lang]} for lang in langs]
    return out_records


def freeze_as_configured(model: Any, c: TrainConfig) -> None:
    """Stop the word embedding matrix training when ``c.freeze_embeddings``: the
    trained model and any reloaded copy that takes its saved trainable weights."""
    if c.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)


def optimizer_step(
    model: Any,
    batch: Any,
    step_fn: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    generator: torch.Generator,
    c: TrainConfig,
    device: torch.device,
    strength: float = 1.0,
    meter: ErrorMeter | None = None,
    *,
    procs: Processes | None = None,
    precision: Precision | None = None,
    share: float = 1.0,
) -> tuple[float, float]:
    """One optimizer step on ``batch``: the method's pass on each micro-batch (padding
    trimmed) at the curriculum's ``strength``, gradients added up and clipped, AdamW,
    the schedule; ``meter`` adds up each micro-batch's errors. With several processes
    ``batch`` is this process's block (None: an empty one), ``share`` its part of the
    global batch, and the gradients and the loss are summed over the processes before
    clipping. Returns (the global batch's loss, the learning rate this step used). The
    training loop and the train-step benchmark both run exactly this."""
    loss = 0.0
    if batch is not None:
        for part, weight in micro_batches(batch, c.grad_accumulation):
            loss += step_fn(model, to_device(trim_padding(part), device), generator, weight * share, strength)
            if meter is not None:
                meter.commit()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if procs is not None and procs.world > 1:
        procs.sum_gradients(trainable)
        (loss,) = procs.sum([loss])
    if precision is not None:
        precision.unscale(optimizer)  # clipping reads true gradient norms
    if c.max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(trainable, c.max_grad_norm)
    if precision is not None:
        precision.step(optimizer)
    else:
        optimizer.step()
    lr = float(scheduler.get_last_lr()[0])
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss, lr


def _merged(procs: Processes, stats: Any, kind: Any) -> Any:
    """A step's counts (EditStats, AdversaryStats or None) summed over the processes."""
    if procs.world == 1:
        return stats
    parts = [part for part in procs.gather(stats) if part is not None]
    if not parts:
        return None
    total = kind()
    for part in parts:
        total.merge(part)
    return total


def _observed_errors(procs: Processes, meter: ErrorMeter | None) -> float | None:
    """The step's error rate on perturbed rows over every process's block (None: no rows)."""
    if meter is None:
        return None
    if procs.world == 1:
        return meter.take()
    wrong, rows = procs.sum(meter.take_counts())
    return wrong / rows if rows else None


def _check_same_weights(procs: Processes, model: Any) -> None:
    """Every process starts from the same weights (new heads drawn from the run seed),
    or their updates would drift apart: checked once, on a sum of every weight."""
    if procs.world == 1:
        return
    total = float(sum(p.detach().double().sum() for p in model.parameters()))
    sums = procs.gather(total)
    if any(v != sums[0] for v in sums):
        raise ConfigError(f"the processes loaded different weights (sums {sums}); every process must load the same model")


# ---------------------------------------------------------------------- helpers


def _prepare_output_dir(out: Path, c: TrainConfig, *, resume: bool, overwrite: bool) -> dict[str, Any] | str | None:
    """The checkpoint payload to resume from, "finished", or None for a fresh start.
    It only reads: a refused run changes nothing, and ``_claim_output_dir`` writes once
    the inputs are checked too."""
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite contradict each other; choose one")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output folder {out} is a file; give another --output-dir")
    if resume:
        if ckpt.has_resume(out):
            payload = ckpt.load_resume(out)
            _check_same_config(out / ckpt.RESUME_DIR, payload["config"], c)
            return payload
        if (out / RESULTS_JSON).exists():
            _check_restartable(out, c)  # a finished run of another config is not this run
            return "finished"
        _check_restartable(out, c)
        log.warning("no resume checkpoint in %s: the run was cut off before its first one; starting from step 0", out)
    elif out.exists() and any((out / name).exists() for name in (*OUTPUT_FILES, ckpt.RESUME_DIR, ckpt.LEGACY_RESUME_FILE, ckpt.BEST_DIR)):
        if not overwrite:
            raise ConfigError(
                f"output folder {out} already holds a run; pass --resume to continue it, "
                "--overwrite to start it again, or another --output-dir"
            )
    return None


def _claim_output_dir(out: Path, *, clear: bool) -> None:
    """The output folder made ready: what a killed run left half-written removed and,
    when ``clear`` (a run started again from step 0), the previous outputs."""
    if out.is_dir():
        removed = ckpt.remove_stale_temporaries(out, OUTPUT_FILES)
        if removed:
            log.info("removed what a killed run left half-written in %s: %s", out, ", ".join(removed))
    if clear:
        ckpt.clear_outputs(out, OUTPUT_FILES)
    out.mkdir(parents=True, exist_ok=True)


def _check_model_limits(c: TrainConfig) -> None:
    """Settings the model cannot run, refused before any file is written (so the
    corrected command is not then refused as "already holds a run")."""
    from transformers import AutoConfig

    from robust_xlt.models import resolve_model

    model_config = AutoConfig.from_pretrained(resolve_model(c.model))
    positions = getattr(model_config, "max_position_embeddings", None)
    # XLM-R-style models reserve padding_idx + 1 positions (2 for e5 / XLM-R).
    offset = getattr(model_config, "pad_token_id", 0) + 1 if getattr(model_config, "model_type", "") in ("xlm-roberta", "roberta") else 0
    if positions is not None and c.max_length is not None and c.max_length > positions - offset:
        raise ConfigError(
            f"max_length {c.max_length} is above what {c.model} can read ({positions - offset} tokens); "
            f"give --max-length {positions - offset} or less"
        )


def _check_restartable(out: Path, c: TrainConfig) -> None:
    """--resume without a checkpoint starts over only a run of this very config that was
    cut off before its first checkpoint (or a folder with nothing in it): never a
    folder of other files, whose best/ and results would be replaced."""
    stale = set(ckpt.stale_temporaries(out, OUTPUT_FILES)) if out.is_dir() else set()
    if not out.exists() or all(p in stale for p in out.iterdir()):
        return  # nothing in it but what a run killed at its start left half-written
    saved = out / CONFIG_FILE
    if not saved.exists():
        raise ConfigError(
            f"--resume: {out} holds no robust-xlt run (no {ckpt.RESUME_DIR}/ checkpoint, no {CONFIG_FILE}); "
            "nothing was changed. Give the run's folder, or drop --resume to start a new run in an empty one"
        )
    from robust_xlt.training.config import build_config, load_toml

    _check_same_config(saved, build_config(load_toml(saved)).to_dict(), c)


def _check_same_config(path: Path, saved: dict[str, Any], c: TrainConfig) -> None:
    current = c.to_dict()
    # A key the checkpoint lacks was added to the config later: its default applies.
    defaults = TrainConfig().to_dict()
    changed = [
        f"{k}: {saved.get(k, defaults[k])!r} -> {current[k]!r}"
        for k in current
        if k not in RESUME_MAY_CHANGE and saved.get(k, defaults[k]) != current[k]
    ]
    if changed:
        raise ConfigError(
            f"{path} was written by a run with another config; --resume needs the same settings. "
            f"Changed: {'; '.join(changed)}"
        )


def _check_same_runtime(out: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Another device or thread count changes float reductions, so the resumed run
    would not continue to the result the uninterrupted one reaches."""
    # One process writes no "processes" entry (checkpoints from before it existed too).
    keys = list(dict.fromkeys([*current, *saved]))
    was, now = ({"processes": 1, **d} for d in (saved, current))
    changed = [f"{k}: {was.get(k)!r} -> {now.get(k)!r}" for k in keys if was.get(k) != now.get(k)]
    if changed:
        raise ConfigError(
            f"{out / ckpt.RESUME_DIR} was written on another runtime; an exact resume needs the same device, "
            f"thread count, torch and number of processes. Changed: {'; '.join(changed)} "
            "(set --device/--threads and launch as many processes as the run had)"
        )


def _finished_run(out: Path) -> RunResult:
    import json

    path = out / RESULTS_JSON
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ckpt.CheckpointError(f"{path}: the finished run's results cannot be read ({exc}); nothing was changed") from None
    log.info("%s already finished; nothing to resume", out)
    return RunResult(out, results, markdown_table(results))


def _checkpoint(
    c: TrainConfig,
    state: RunState,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    order: BatchOrder,
    runtime: dict[str, Any],
    precision: Precision | None = None,
    others: list[tuple[dict[str, Any], dict[str, torch.Tensor]]] | None = None,
) -> dict[str, Any]:
    """What the resume checkpoint holds; ``others``: the random states of processes
    1, 2, ... (their dropout streams), beside process 0's own."""
    epoch, position = divmod(state.step, order.steps_per_epoch)
    rng_state, rng_tensors = rng.capture()
    extra: dict[str, Any] = {}
    if others:
        extra["rng_processes"] = [other_state for other_state, _ in others]
        for rank, (_, tensors) in enumerate(others, start=1):
            rng_tensors.update({f"process{rank}.{k}": v for k, v in tensors.items()})
    if precision is not None and precision.state():
        extra["precision"] = precision.state()
    return {
        "model": model,
        "optimizer": optimizer,
        "rng_tensors": rng_tensors,
        "state": {
            "step": state.step,
            "data_position": {"epoch": epoch, "batch": position},
            "scheduler": scheduler.state_dict(),
            "rng": rng_state,
            "state": asdict(state),
            "config": c.to_dict(),
            "runtime": runtime,
            **extra,
        },
    }


def _restore(payload: dict[str, Any], model: Any, optimizer: Any, scheduler: Any, device: torch.device, rank: int = 0) -> RunState:
    ckpt.restore_model_and_optimizer(payload, model, optimizer)
    model.to(device)
    scheduler.load_state_dict(payload["scheduler"])
    if rank == 0:
        rng.restore(payload["rng"], payload["rng_tensors"])
    else:
        prefix = f"process{rank}."
        tensors = {k[len(prefix) :]: v for k, v in payload["rng_tensors"].items() if k.startswith(prefix)}
        rng.restore(payload["rng_processes"][rank - 1], tensors)
    return RunState(**payload["state"])


def _qa_tokenizer(task: Task, tokenizer: Any) -> Any:
    """The tokenizer held in Rust for a run's QA feature calls (built once, not per batch)."""
    if task.head != "qa":
        return None
    from robust_xlt.qa import QATokenizer

    return QATokenizer(tokenizer)


def _optimizer(model: Any, c: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # As BERT: no weight decay on biases and LayerNorm weights.
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": c.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    assert c.lr is not None
    # The fused kernel updates e5-small's 118M parameters about 7x faster on CPU than the
    # per-tensor loop (0.05 s against 0.34 s on 2 cores); it exists for CPU and CUDA.
    fused = device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=c.lr, eps=c.adam_eps, fused=fused)


def _linear_schedule(optimizer: torch.optim.Optimizer, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        # transformers' get_linear_schedule_with_warmup, as XTREME's scripts use.
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return device


def _markdown_report(c: TrainConfig, results: dict[str, Any], table: str) -> str:
    lines = [
        f"# {c.task}: {c.model}, {'+'.join(c.method)}, seed {c.seed}",
        "",
    ]
    if c.uses_smoke_sample:
        lines += ["**Smoke run on the sample shipped with robust-xlt: these scores mean nothing.**", ""]
    sel = results["selection"]
    lines += [
        f"Model selected at step {results['best_step']} of {results['steps']} on {sel['dev']} "
        f"({sel['metric']} {sel['score']:.2f}).",
        "",
        table,
    ]
    oracle = results.get("oracle")
    if oracle is not None:
        steps = ", ".join(f"{lang} {step}" for lang, step in oracle["steps"].items())
        lines += [
            f"Oracle selection: each target language at the step its own dev rows chose "
            f"({', '.join(f'{lang} {n}' for lang, n in oracle['dev_examples'].items())} rows; steps {steps}).",
            "",
            markdown_table(oracle),
        ]
    return "\n".join(lines)


def evaluate_saved(model_dir: Path, config: TrainConfig, results_dir: Path | None = None, *, generalized: bool = False) -> RunResult:
    """Evaluate a saved model folder on every language of ``config`` (``robust-xlt eval``);
    results.json, results.md and the per-language predictions go to ``results_dir``
    when given, which must not hold a training run's outputs. ``generalized`` adds the
    matrices of examples whose two parts (sentences; question and context) come from two
    languages (``results["generalized"]``, the table, predictions-generalized.jsonl)."""
    # Under a launcher process 0 evaluates alone (evaluation is not sharded) and the
    # others return its result.
    return Processes.start(config.device).first_decides(lambda: _evaluate_saved(model_dir, config, results_dir, generalized=generalized))  # type: ignore[no-any-return]


def _evaluate_saved(model_dir: Path, config: TrainConfig, results_dir: Path | None, *, generalized: bool) -> RunResult:
    with contextlib.ExitStack() as held:
        if results_dir is not None:
            held.callback(_output_lock(results_dir, "this evaluation").release)
        return _evaluate_saved_held(model_dir, config, results_dir, generalized=generalized)


def _evaluate_saved_held(model_dir: Path, config: TrainConfig, results_dir: Path | None, *, generalized: bool) -> RunResult:
    c = config.resolved()
    task = c.task_record
    check_sources(c, with_train=False)
    if results_dir is not None:
        _check_eval_output(results_dir)
    device, data, model, tokenizer, settings = _load_saved(model_dir, c)
    evaluated = evaluate_languages(task, model, tokenizer, data.eval, settings, device)
    summary = summarize({lang: scores for lang, (scores, _) in evaluated.items()}, task.metrics, c.source_lang, c.low_resource_langs or ())
    results = {**_saved_run_header("eval", model_dir, c, data.describe), **summary}
    table = markdown_table(summary)
    mixed_records: list[dict[str, Any]] = []
    if generalized:
        sources = data.splits["sources"]["eval"]
        results["generalized"], mixed_records = evaluate_generalized(task, model, tokenizer, data.eval, settings, device, sources=sources)
        table += "\n" + matrix_table(results["generalized"])
    if results_dir is not None:
        results_dir.mkdir(parents=True, exist_ok=True)
        for lang, (_, records) in evaluated.items():
            write_predictions(results_dir, lang, records)
        if generalized:
            write_predictions(results_dir, "generalized", mixed_records)
        write_json(results_dir / RESULTS_JSON, results)
        write_text_atomic(results_dir / RESULTS_MD, f"# {c.task}: {model_dir}\n\n{table}")
    return RunResult(results_dir or model_dir, results, table)


def attack_saved(
    model_dir: Path,
    config: TrainConfig,
    out: Path,
    *,
    budgets: list[float],
    lexicon: Any,
    lexicon_paths: list[str],
    attack_config: Any,
    overwrite: bool = False,
    samples: int = 3,
    reported_fields: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Attack a saved model folder on every language of ``config`` at each budget
    (``robust-xlt attack``); writes attack.json, attack.md and attack-{lang}.jsonl to
    ``out``, which must not hold a training run, and returns what attack.json holds.
    ``reported_fields`` are the config fields recorded in it."""
    from robust_xlt.evaluation.attack import check_attack_output

    c = config.resolved()
    task = c.task_record
    procs = Processes.start(c.device)  # several under a launcher: each searches its block
    check_sources(c, with_train=False)

    held = contextlib.ExitStack()  # process 0's lock on ``out``, from its checks to its last write

    def check_output() -> None:
        held.callback(_output_lock(out, "this attack").release)
        _check_eval_output(out)
        check_attack_output(out, overwrite=overwrite)

    with held:
        procs.first_decides(check_output)
        return _attack_saved_held(model_dir, c, out, procs, budgets, lexicon, lexicon_paths, attack_config, samples, reported_fields)


def _attack_saved_held(
    model_dir: Path,
    c: TrainConfig,
    out: Path,
    procs: Processes,
    budgets: list[float],
    lexicon: Any,
    lexicon_paths: list[str],
    attack_config: Any,
    samples: int,
    reported_fields: tuple[str, ...],
) -> dict[str, Any]:
    from robust_xlt.evaluation.attack import attack_languages, write_attack

    task = c.task_record
    device, data, model, tokenizer, settings = _load_saved(model_dir, c, procs)
    summary, records = attack_languages(task, model, tokenizer, data.eval, lexicon, budgets, attack_config, settings, device, samples=samples, procs=procs)

    def finish() -> dict[str, Any]:
        values = c.to_dict()
        results = {
            **_saved_run_header("attack", model_dir, c, data.describe),
            "source_lang": c.source_lang,
            "low_resource_langs": list(c.low_resource_langs or ()),
            "lexicon": lexicon_paths,
            "config": {k: values[k] for k in reported_fields},
            **summary,
        }
        write_attack(out, results, records, f"{c.task}: attack on {model_dir}")
        return results

    return procs.first_decides(finish)  # type: ignore[no-any-return]  # process 0 writes; all return its results


def _load_saved(model_dir: Path, c: TrainConfig, procs: Processes | None = None) -> tuple[torch.device, Any, Any, Any, InputSettings]:
    """What evaluating a saved model needs: (device, the evaluation data, model,
    tokenizer, input settings), after the checks that need no model."""
    procs = procs or Processes()
    if c.uses_smoke_sample and procs.main:
        log.warning(SMOKE_NOTICE)
    torch.set_num_threads(c.threads or max(1, _available_cores() // procs.local_world))
    device = procs.device or _device(c.device)
    data = load_task_data(c, with_train=False)
    model, tokenizer = c.task_record.load_model(str(model_dir))
    model.to(device)
    settings = InputSettings.of(c, qa_tokenizer=_qa_tokenizer(c.task_record, tokenizer))
    # As train does: inputs the model cannot read (QA windows that cannot hold the
    # overlap, a question of no tokens) fail now, naming the file, before any scoring.
    sources = data.splits["sources"]["eval"]
    for lang, examples in data.eval.items():
        c.task_record.check_inputs(tokenizer, examples, settings, f"{lang} evaluation data {sources.get(lang, c.eval_data)}")
    return device, data, model, tokenizer, settings


def _saved_run_header(command: str, model_dir: Path, c: TrainConfig, describe: dict[str, str]) -> dict[str, Any]:
    """What eval's and attack's results say first: the command, the model and the run
    it came from (its best step, when the folder is a run's best/), and the data."""
    info = ckpt.read_best_info(model_dir) if (model_dir / ckpt.BEST_INFO).exists() else {}
    return {
        "command": command,
        "task": c.task,
        "model": str(model_dir),
        "method": list(c.method),
        "seed": c.seed,
        "best_step": info.get("step"),
        "data": {k: v for k, v in describe.items() if k != "train"},
        "smoke_run": c.uses_smoke_sample,
    }


def _output_lock(folder: Path, what: str) -> FolderLock:
    """The lock of an output folder, taken (release it): a busy folder or a file is a ConfigError."""
    lock = FolderLock(folder, what)
    try:
        lock.acquire()
    except (FolderBusyError, NotADirectoryError) as exc:
        raise ConfigError(str(exc)) from None
    return lock


def _check_eval_output(folder: Path) -> None:
    """Evaluation output never replaces a training run's results (or anything but a
    previous evaluation's)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--output-dir {folder} is a file; give a folder")
    if not folder.is_dir():
        return
    # A model folder (a run's best/ above all, which the run replaces when it improves)
    # would lose the evaluation's files with it.
    model_files = [name for name in ("config.json", "model.safetensors", "pytorch_model.bin", ckpt.BEST_INFO) if (folder / name).exists()]
    if model_files:
        raise ConfigError(
            f"--output-dir {folder} is a model folder ({', '.join(model_files)}); the results would be mixed into "
            f"it and go with it when it is replaced. Give another folder, e.g. {folder.parent / ('eval-' + folder.name)}"
        )
    run_files = [name for name in (CONFIG_FILE, METRICS_FILE, SPLITS_FILE, ckpt.BEST_DIR, ckpt.RESUME_DIR) if (folder / name).exists()]
    if run_files:
        raise ConfigError(
            f"--output-dir {folder} holds a training run ({', '.join(run_files)}); evaluation would replace its "
            f"results. Give another folder, e.g. {folder}/eval-<name>"
        )
