"""The two things a run keeps on disk: the best model (a transformers folder with
safetensors weights) and the resume checkpoint (everything needed to continue).

Both appear atomically. The resume checkpoint is written to a temporary file in the
same folder, flushed to disk and renamed over the old one, so a run killed while saving
keeps its previous checkpoint. The best model is written to a temporary folder and
swapped in with two renames; if a run dies between them the previous best is still
found under ``.best.old``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

RESUME_FILE = "resume.pt"
BEST_DIR = "best"
_BEST_TMP = ".best.tmp"
_BEST_OLD = ".best.old"
CONFIG_IN_MODEL = "robust_xlt.toml"
BEST_INFO = "best.json"
FORMAT_VERSION = 1
_REQUIRED = ("format_version", "step", "model", "optimizer", "scheduler", "rng", "state", "config")


class CheckpointError(Exception):
    """A resume checkpoint or saved model that cannot be used; the message names the file."""


def save_resume(out_dir: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``out_dir/resume.pt`` atomically (temp file, fsync, rename)."""
    path = out_dir / RESUME_FILE
    tmp = out_dir / f".resume-{os.getpid()}.tmp"
    try:
        with tmp.open("wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **payload}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(out_dir)
    return path


def load_resume(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``; CheckpointError naming the file when it is damaged."""
    try:
        # weights_only: loading a checkpoint must never run code from the file.
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{path}: cannot read the resume checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
            "it is damaged or not a robust-xlt checkpoint. Delete it to start the run again from step 0."
        ) from None
    if not isinstance(payload, dict) or any(k not in payload for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(payload, dict) or k not in payload]
        raise CheckpointError(f"{path}: not a robust-xlt resume checkpoint (missing {', '.join(missing)})")
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload['format_version']} is not this version's ({FORMAT_VERSION})"
        )
    return payload


def remove_resume(out_dir: Path) -> None:
    (out_dir / RESUME_FILE).unlink(missing_ok=True)
    for stale in out_dir.glob(".resume-*.tmp"):
        stale.unlink(missing_ok=True)


def save_best(out_dir: Path, model: Any, tokenizer: Any, config_toml: str, info: dict[str, Any]) -> Path:
    """Save the model, its tokenizer, the run's config and ``info`` as ``out_dir/best``."""
    tmp, best, old = out_dir / _BEST_TMP, out_dir / BEST_DIR, out_dir / _BEST_OLD
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / CONFIG_IN_MODEL).write_text(config_toml, encoding="utf-8")
    (tmp / BEST_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if best.exists():
        best.rename(old)
    tmp.rename(best)
    shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(out_dir)
    return best


def best_dir(out_dir: Path) -> Path:
    """The best-model folder, or the previous one when a swap was interrupted."""
    best = out_dir / BEST_DIR
    if best.is_dir():
        return best
    old = out_dir / _BEST_OLD
    if old.is_dir():
        log.warning("%s is missing; using the previous best model in %s", best, old)
        return old
    raise CheckpointError(f"{best}: no best model saved in {out_dir}")


def read_best_info(folder: Path) -> dict[str, Any]:
    path = folder / BEST_INFO
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the best model's info ({exc})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return info


def clear_outputs(out_dir: Path, names: tuple[str, ...]) -> None:
    """Remove this package's outputs (and only those) from ``out_dir``."""
    for name in (*names, RESUME_FILE, BEST_DIR, _BEST_TMP, _BEST_OLD):
        p = out_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)
    for stale in out_dir.glob(".resume-*.tmp"):
        stale.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
