"""`robust-xlt compare`: run a grid's cells (train, then attack and generalized
evaluation where configured), skipping what finished and resuming what was cut off,
then write the report.

Every stage of a cell checks its own output: a run with results.json is not trained
again, a run folder without it resumes from its checkpoint (``train(resume=True)``),
an attack with attack.json is not repeated. So the same command, run again after a
kill, a reboot or on another day, continues where the grid stopped. A cell that fails
is logged (its traceback in ``logs/<cell>.log``) and the others go on; the command
then fails naming it, and rerunning retries it.

Output folder::

    grid.json        the cells: task, label, seed and their folders (for `report`)
    runs/<cell>/     the training run (as `robust-xlt train` writes it)
    attacks/<cell>/  attack.json, attack.md, attack-{lang}.jsonl
    generalized/<cell>/  results.json with the generalized matrix, predictions
    logs/<cell>.log  the cell's log lines
    cells/<cell>.json    written when a cell finishes: its stages' seconds (a stage
                         run again later, e.g. a deleted attack, replaces its own entry;
                         a resumed training counts its earlier pieces up to their
                         last checkpoint)
    report/          report.md, report.json, report.csv, figures/
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_xlt.atomic import write_text_atomic
from robust_xlt.compare.grid import Cell, Grid, GridError
from robust_xlt.compare.runs import GRID_MANIFEST
from robust_xlt.evaluation import ATTACK_JSON
from robust_xlt.folder_lock import FolderBusyError, FolderLock
from robust_xlt.training import evaluate_saved, train
from robust_xlt.training.checkpoint import checkpointed_train_seconds
from robust_xlt.training.loop import attack_saved
from robust_xlt.training.parallel import Processes, launched_rank

log = logging.getLogger(__name__)

REPORT_DIR = "report"
# Config fields an attack records in attack.json (those that decide what is attacked).
ATTACK_REPORTED: tuple[str, ...] = (
    "task",
    "source_lang",
    "eval_data",
    "eval_langs",
    "low_resource_langs",
    "max_eval_examples",
    "max_length",
    "device",
    "threads",
)


@dataclass
class GridOutcome:
    total: int
    already_done: int
    ran: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] | None = None


def cell_status(cell: Cell, root: Path) -> str:
    """done, or what is left: 'train' (fresh), 'resume' (cut off), 'attack',
    'generalized' (the later stages of a trained cell)."""
    return stage_status(cell.run_dir(root), cell.attack_dir(root), cell.generalized_dir(root))


def stage_status(run: Path, attack: Path | None, generalized: Path | None) -> str:
    """cell_status from a cell's folders (None: the stage is not part of the cell),
    so that what reads only grid.json (`robust-xlt collect`) judges a cell the same."""
    if not (run / "results.json").exists():
        return "resume" if run.is_dir() and any(run.iterdir()) else "train"
    if attack is not None and not (attack / ATTACK_JSON).exists():
        return "attack"
    if generalized is not None and not (generalized / "results.json").exists():
        return "generalized"
    return "done"


def run_grid(grid: Grid, *, jobs: int = 1, dry_run: bool = False, report: bool = True) -> GridOutcome:
    """Run every unfinished cell of ``grid`` in ``jobs`` processes (1: in this one),
    then the report. Returns what ran; raises GridError after the report when a cell
    failed."""
    root = grid.output_dir
    # Under a launcher every process walks the grid: each cell's training and attack
    # are shared out (training.parallel), and process 0 writes the grid's own files.
    procs = Processes.start("auto")
    if procs.world > 1 and jobs > 1:
        raise GridError(f"--jobs {jobs} under a launcher of {procs.world} processes: give one or the other")
    statuses = {cell.name: cell_status(cell, root) for cell in grid.cells}
    pending = [cell for cell in grid.cells if statuses[cell.name] != "done"]
    outcome = GridOutcome(total=len(grid.cells), already_done=len(grid.cells) - len(pending))
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in ("done", "resume", "train", "attack", "generalized")}
    log.info(
        "grid %s: %d cells in %s: %d done, %d cut off (resume), %d to train, %d to attack, %d to evaluate (generalized)",
        grid.name,
        len(grid.cells),
        root,
        counts["done"],
        counts["resume"],
        counts["train"],
        counts["attack"],
        counts["generalized"],
    )
    if dry_run:
        for cell in grid.cells:
            print(f"{statuses[cell.name]:<12} {cell.name:<40} {cell.run_dir(root)}")
        print(f"{len(pending)} of {len(grid.cells)} cells to run; nothing was run (--dry-run)")
        return outcome
    # One `compare` per grid folder: a second one would train and attack the same cells.
    lock = FolderLock(root, "this compare")

    def take_lock() -> None:
        try:
            lock.acquire()
        except (FolderBusyError, NotADirectoryError) as exc:
            raise GridError(str(exc)) from None

    procs.first_decides(take_lock)
    try:
        return _run_pending(grid, procs, pending, outcome, jobs=jobs, report=report)
    finally:
        lock.release()  # nothing to release on the processes that did not take it


def _run_pending(grid: Grid, procs: Processes, pending: list[Cell], outcome: GridOutcome, *, jobs: int, report: bool) -> GridOutcome:
    """``run_grid``'s work once the grid folder is held: the pending cells, then the report."""
    root = grid.output_dir
    if procs.main:
        root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(root / GRID_MANIFEST, json.dumps(grid.manifest(), indent=1) + "\n")
    procs.wait()
    durations = _finished_durations(grid, root)
    level = logging.getLogger("robust_xlt").getEffectiveLevel()
    started = time.monotonic()

    def finished(cell: Cell, seconds: float | None, error: str | None) -> None:
        if error is not None:
            outcome.failed[cell.name] = error
            log.error("cell %s failed: %s (traceback in %s)", cell.name, error, root / "logs" / f"{cell.name}.log")
        else:
            outcome.ran.append(cell.name)
            durations.setdefault(cell.task, []).append(seconds or 0.0)
        done = outcome.already_done + len(outcome.ran)
        left = [c for c in pending if c.name not in outcome.ran and c.name not in outcome.failed]
        log.info(
            "grid %d/%d cells done%s | %s %s | %s",
            done,
            outcome.total,
            f", {len(outcome.failed)} failed" if outcome.failed else "",
            cell.name,
            "failed" if error else f"took {_duration(seconds or 0.0)}",
            _eta(left, durations, jobs, time.monotonic() - started),
        )

    if jobs <= 1:
        for cell in pending:
            try:
                seconds = run_cell(cell, root)
            except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the grid
                finished(cell, None, f"{type(exc).__name__}: {exc}")
            else:
                finished(cell, seconds, None)
    else:
        # spawn, not fork: torch's and rayon's thread pools do not survive a fork.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(level,)) as pool:
            futures: dict[Future[float], Cell] = {pool.submit(run_cell, cell, root): cell for cell in pending}
            remaining = set(futures)
            while remaining:
                done_now, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done_now:
                    cell = futures[future]
                    error = future.exception()
                    finished(cell, None if error else future.result(), None if error is None else f"{type(error).__name__}: {error}")
    if report and procs.main:
        from robust_xlt.compare.report import build_report

        outcome.report = build_report([root], root / REPORT_DIR, baseline=grid.baseline)
        log.info("report: %s", root / REPORT_DIR / "report.md")
    if outcome.failed:
        raise GridError(
            f"{len(outcome.failed)} of {outcome.total} cells failed ({', '.join(outcome.failed)}); the report covers the others. "
            "Rerun the same command to retry them: finished cells are kept"
        )
    return outcome


def run_cell(cell: Cell, root: Path) -> float:
    """Train (or resume), attack and evaluate one cell, each stage only if its output
    is missing; returns the seconds this took. Its log lines also go to
    ``logs/<cell>.log`` for the duration (a handler on the package logger, removed
    after: the cell's record beside its outputs, not a logging setup)."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logs / f"{cell.name}.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
    package = logging.getLogger("robust_xlt")
    package.addHandler(handler)
    start = time.perf_counter()
    stages: dict[str, float] = {}
    earlier_pieces = 0.0  # a resumed training's seconds before this piece
    try:
        log.info("cell %s: %s", cell.name, cell_status(cell, root))
        run = cell.run_dir(root)
        if not (run / "results.json").exists():
            resume = run.is_dir() and any(run.iterdir())
            # A cut-off run's earlier pieces count too, up to their last checkpoint
            # (what they did after it is done again, and timed, in this piece).
            earlier_pieces = checkpointed_train_seconds(run) if resume else 0.0
            t = time.perf_counter()
            train(cell.config, resume=resume)
            stages["train"] = earlier_pieces + time.perf_counter() - t
        attack_dir = cell.attack_dir(root)
        if attack_dir is not None and not (attack_dir / ATTACK_JSON).exists():
            t = time.perf_counter()
            _attack(cell, run, attack_dir)
            stages["attack"] = time.perf_counter() - t
        generalized_dir = cell.generalized_dir(root)
        if generalized_dir is not None and not (generalized_dir / "results.json").exists():
            t = time.perf_counter()
            _generalized(cell, run, generalized_dir)
            stages["generalized"] = time.perf_counter() - t
        seconds = earlier_pieces + time.perf_counter() - start
        # A stage re-run later (an attack deleted to be redone) keeps the record of
        # the stages that finished before it: the cell's cost is all of them.
        path = root / "cells" / f"{cell.name}.json"
        earlier = _stages(path)
        if earlier:
            stages = {**earlier, **stages}
            seconds = sum(stages.values())
        if launched_rank() == 0:  # under a launcher process 0 keeps the grid's records
            (root / "cells").mkdir(exist_ok=True)
            record = {"cell": cell.name, "task": cell.task, "seconds": round(seconds, 2), "stages": {k: round(v, 2) for k, v in stages.items()}}
            write_text_atomic(path, json.dumps(record) + "\n")
        return seconds
    except Exception:
        log.exception("cell %s failed", cell.name)
        raise
    finally:
        package.removeHandler(handler)
        handler.close()


def _eval_config(cell: Cell, run: Path, langs: tuple[str, ...] | None, rows: int | None) -> Any:
    """The run's resolved config, evaluated on ``langs`` (the run's when None), the
    first ``rows`` rows of each."""
    c = cell.config.resolved()
    langs = langs or c.eval_langs
    low = tuple(lang for lang in (c.low_resource_langs or ()) if lang in (langs or ()))
    return dataclasses.replace(
        c, model=str(run / "best"), eval_langs=langs, low_resource_langs=low, max_eval_examples=rows or c.max_eval_examples
    )


def _attack(cell: Cell, run: Path, out: Path) -> None:
    from robust_xlt import load_lexicon
    from robust_xlt.training.augment import smoke_lexicon_path

    plan = cell.attack
    assert plan is not None
    config = _eval_config(cell, run, plan.langs, plan.rows)
    paths = list(plan.lexicon) or list(config.lexicon) or [str(smoke_lexicon_path())]
    for p in paths:
        if not Path(p).expanduser().is_file():
            raise FileNotFoundError(f"lexicon file not found: {p}")
    lexicon = load_lexicon([Path(p).expanduser() for p in paths])
    # overwrite: attack.json is missing, so whatever is there is a cut-off attack's.
    attack_saved(
        run / "best",
        config,
        out,
        budgets=list(plan.budgets),
        lexicon=lexicon,
        lexicon_paths=paths,
        attack_config=plan.config,
        overwrite=True,
        samples=plan.samples,
        reported_fields=ATTACK_REPORTED,
    )


def _generalized(cell: Cell, run: Path, out: Path) -> None:
    plan = cell.generalized
    assert plan is not None
    evaluate_saved(run / "best", _eval_config(cell, run, plan.langs, plan.rows), out, generalized=True)


def _worker_init(level: int) -> None:
    # A spawned process starts with no logging state: give the package logger the
    # parent's level so the per-cell log files get the same lines.
    logging.getLogger("robust_xlt").setLevel(level)


def _stages(path: Path) -> dict[str, float]:
    """The stage seconds of a cell's earlier record; none when it has none (or an
    unreadable one, which the new record replaces)."""
    try:
        stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
        return {str(k): float(v) for k, v in stages.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _finished_durations(grid: Grid, root: Path) -> dict[str, list[float]]:
    """Seconds of the cells that finished in earlier invocations, by task."""
    out: dict[str, list[float]] = {}
    for cell in grid.cells:
        path = root / "cells" / f"{cell.name}.json"
        if path.exists():
            try:
                out.setdefault(cell.task, []).append(float(json.loads(path.read_text(encoding="utf-8"))["seconds"]))
            except (ValueError, KeyError):
                continue
    return out


def _eta(left: list[Cell], durations: dict[str, list[float]], jobs: int, elapsed: float) -> str:
    """Time left: each remaining cell at the mean duration of its task's finished cells
    (of all finished cells when its task has none yet), spread over the jobs."""
    if not left:
        return f"grid finished in {_duration(elapsed)}"
    every = [d for ds in durations.values() for d in ds]
    if not every:
        return f"{len(left)} cells left (no finished cell to time them by yet)"
    total = sum(sum(durations[c.task]) / len(durations[c.task]) if durations.get(c.task) else sum(every) / len(every) for c in left)
    return f"{len(left)} cells left, about {_duration(total / max(1, min(jobs, len(left))))} (from {len(every)} finished cells)"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
