"""`robust-xlt collect GRID_DIR DEST`: copy a compare grid's finished cells, never
weights, into DEST in the grid's own layout: to commit them, or to continue the grid
on another machine (copy DEST to a grid folder and run the same compare there).

Which cells are finished is judged from grid.json with the runner's own
:func:`stage_status`, the test `compare` itself uses, so the two cannot disagree. A
cell with a stage left (training, its attack, its generalized matrix) is left out
whole: its later stages need the weights that stay behind, so elsewhere it starts
over.

A cell's files are copied stage by stage in the order compare runs them (run, attack,
generalized), each stage's finishing file (results.json, attack.json) last, each file
whole (a temporary name, then a rename). So a collect killed part way leaves DEST in
a state compare reads correctly: a stage without its finishing file is one compare
would run again. Running the same collect again completes it; files whose size and
modification time match the grid's are not copied again. A stage the grid redid
replaces the old one in DEST whole (see :func:`_copy_stage`).

The report is not copied: the grid writes it only when a compare ends, so it may
hold fewer cells than DEST. Build it on DEST (``robust-xlt report DEST``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robust_xlt.atomic import temp_path
from robust_xlt.compare.grid import GridError
from robust_xlt.compare.runner import stage_status
from robust_xlt.compare.runs import GRID_MANIFEST
from robust_xlt.evaluation import ATTACK_JSON
from robust_xlt.folder_lock import FolderBusyError, FolderLock

log = logging.getLogger(__name__)

RESULTS = "results.json"
# Weights live in subfolders (best/, resume/, the oracle's steps), which are never
# copied; a weight file at a stage folder's top is refused too, and counted.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
WHY_LEFT_OUT = {
    "train": "not started",
    "resume": "training cut off or still running",
    "attack": "trained, its attack not finished",
    "generalized": "trained and attacked, its generalized matrix not finished",
}
# compare's order; in each, the file that says the stage finished.
STAGES = (("run", RESULTS), ("attack", ATTACK_JSON), ("generalized", RESULTS))


@dataclass
class CollectOutcome:
    copied: list[str] = field(default_factory=list)  # finished cells now in DEST
    left_out: dict[str, str] = field(default_factory=dict)  # cell -> why
    files_copied: int = 0
    files_unchanged: int = 0
    files_removed: int = 0  # in DEST, no longer written by a stage the grid redid
    weights_skipped: list[str] = field(default_factory=list)
    without_record: list[str] = field(default_factory=list)  # finished, but cut off before cells/<cell>.json


def collect_grid(grid_dir: Path, dest: Path) -> CollectOutcome:
    grid_dir, dest = Path(grid_dir), Path(dest)
    manifest_path = grid_dir / GRID_MANIFEST
    if not manifest_path.is_file():
        raise GridError(f"{grid_dir}: no {GRID_MANIFEST}, so not a robust-xlt compare folder")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        cells: list[dict[str, Any]] = list(manifest["cells"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GridError(f"{manifest_path}: not a grid manifest ({exc})") from None
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("name"), str) or not isinstance(cell.get("run"), str):
            raise GridError(f"{manifest_path}: cell {i + 1} has no name or run folder: {json.dumps(cell)[:200]}")
    source, target = grid_dir.resolve(), dest.resolve()
    if target == source or source in target.parents:
        raise GridError(f"collect into {dest}: that is the grid folder {grid_dir} or inside it; give a folder outside it")
    lock = FolderLock(dest, "this collect")
    try:
        lock.acquire()
    except (FolderBusyError, NotADirectoryError) as exc:
        raise GridError(str(exc)) from None
    try:
        outcome = CollectOutcome()
        _copy_file(manifest_path, dest / GRID_MANIFEST, outcome)
        for cell in cells:
            _collect_cell(cell, grid_dir, dest, outcome)
        return outcome
    finally:
        lock.release()


def _collect_cell(cell: dict[str, Any], grid_dir: Path, dest: Path, outcome: CollectOutcome) -> None:
    name = str(cell["name"])
    # The folders relative to the grid; a stage the cell does not have is None.
    folders: dict[str, str | None] = {kind: cell.get(kind) or None for kind, _ in STAGES}
    run, attack, generalized = (grid_dir / f if f else None for f in folders.values())
    status = stage_status(run, attack, generalized)  # type: ignore[arg-type]  # run: checked in collect_grid
    if status != "done":
        outcome.left_out[name] = WHY_LEFT_OUT[status]
        return
    for kind, finishing in STAGES:
        folder = folders[kind]
        if folder:
            _copy_stage(grid_dir / folder, dest / folder, finishing, outcome)
    for sub, file in (("logs", f"{name}.log"), ("cells", f"{name}.json")):  # the record last: the cell is whole
        path = grid_dir / sub / file
        if path.is_file():
            _copy_file(path, dest / sub / file, outcome)
        elif sub == "cells":
            outcome.without_record.append(name)
    outcome.copied.append(name)


def _copy_stage(source: Path, target: Path, finishing: str, outcome: CollectOutcome) -> None:
    """The plain files at the top of a stage folder (not hidden ones: the folder lock,
    temporary files), the finishing file last.

    A stage the grid redid since the last collect (its finishing file differs) is
    first marked unfinished in DEST by removing the old finishing file, so a collect
    killed while replacing it leaves a stage compare runs again, never old and new
    files under a finishing file; files the redone stage no longer writes are removed,
    so DEST holds exactly the grid's stage."""
    files = sorted(_plain_files(source), key=lambda p: (p.name == finishing, p.name))
    kept = {p.name for p in files if not p.name.endswith(WEIGHT_SUFFIXES)}
    if target.is_dir():
        old_finishing = target / finishing
        if old_finishing.is_file() and not _same_file(source / finishing, old_finishing):
            old_finishing.unlink()
        for stale in _plain_files(target):
            if stale.name not in kept:
                stale.unlink()
                outcome.files_removed += 1
    for path in files:
        if path.name.endswith(WEIGHT_SUFFIXES):
            outcome.weights_skipped.append(str(path))
            continue
        _copy_file(path, target / path.name, outcome)


def _plain_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith(".")]


def _same_file(source: Path, target: Path) -> bool:
    """Taken as the same when size and modification time match: copy2 keeps the time."""
    try:
        a, b = source.stat(), target.stat()
    except FileNotFoundError:
        return False
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def _copy_file(source: Path, target: Path, outcome: CollectOutcome) -> None:
    if _same_file(source, target):
        outcome.files_unchanged += 1
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(target)
    try:
        shutil.copy2(source, tmp)  # keeps the modification time: the next collect skips it
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    outcome.files_copied += 1
