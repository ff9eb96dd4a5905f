"""The two things a run keeps on disk: the best model (a transformers folder with
safetensors weights) and the resume checkpoint (what is needed to continue exactly).

The resume checkpoint is a folder, ``resume/``: ``trainable.safetensors`` (the
parameters that train: a frozen word-embedding matrix is not in it, since the run
reloads it from the model it started from), ``optimizer.safetensors`` (Adam's moments
of those parameters only), ``rng.safetensors`` (torch's generator states) and
``state.json`` (step, scheduler, Python's and numpy's generator states, the loop's
counters, the config and the runtime). It is written to ``.resume.tmp/``, flushed,
and swapped in with two renames; a run killed in between still finds the previous one
under ``.resume.old/``. Half-written temporary folders of a killed run are removed at
the next start.

The best model is kept in memory when it improves and written (``best/``, swapped in
the same way) only when a resume checkpoint is written and at the end of training, so
each checkpoint write is one model save, not one per improvement.

With an oracle, ``oracle-steps/step-<s>.safetensors`` holds the trainable parameters of
each evaluation step some target language's own dev rows chose so far, so that after
training each language is scored once, with the model of its step, instead of every
language at every evaluation step. A step no language needs any more is deleted only
after a checkpoint that no longer refers to it has been swapped in.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

log = logging.getLogger(__name__)

RESUME_DIR = "resume"
_RESUME_TMP = ".resume.tmp"
_RESUME_OLD = ".resume.old"
LEGACY_RESUME_FILE = "resume.pt"
BEST_DIR = "best"
_BEST_TMP = ".best.tmp"
_BEST_OLD = ".best.old"
CONFIG_IN_MODEL = "robust_xlt.toml"
BEST_INFO = "best.json"
ORACLE_STEPS_DIR = "oracle-steps"
FORMAT_VERSION = 2
_STATE_KEYS = ("format_version", "step", "optimizer_groups", "scheduler", "rng", "state", "config", "runtime")


class CheckpointError(Exception):
    """A resume checkpoint or saved model that cannot be used; the message names the file."""


def trainable_state(model: Any) -> dict[str, torch.Tensor]:
    """The parameters that train, by name (a frozen embedding matrix is left out)."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def write_resume(
    out_dir: Path,
    *,
    model: Any,
    optimizer: torch.optim.Optimizer,
    rng_tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
) -> int:
    """Write the resume checkpoint to ``.resume.tmp/`` and flush it; ``commit_resume``
    puts it in use (the loop logs it in between, so a run resumed from it finds its
    record in metrics.jsonl). Returns its size in bytes. ``state`` holds the JSON part
    (see the module docstring) but the optimizer's param groups, which are taken from
    ``optimizer``."""
    tmp = out_dir / _RESUME_TMP
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opt = optimizer.state_dict()
    moments = {
        f"{index}.{key}": value.detach().contiguous()
        for index, values in opt["state"].items()
        for key, value in values.items()
        if isinstance(value, torch.Tensor)
    }
    files = {
        "trainable.safetensors": {k: v.contiguous() for k, v in trainable_state(model).items()},
        "optimizer.safetensors": moments,
        "rng.safetensors": {k: v.contiguous() for k, v in rng_tensors.items()},
    }
    for name, tensors in files.items():
        save_file({k: v.cpu() for k, v in tensors.items()}, str(tmp / name))
    payload = {"format_version": FORMAT_VERSION, **state, "optimizer_groups": opt["param_groups"]}
    (tmp / "state.json").write_text(json.dumps(payload), encoding="utf-8")
    for path in tmp.iterdir():
        _fsync(path)
    return sum(p.stat().st_size for p in tmp.iterdir())


def commit_resume(out_dir: Path) -> None:
    """Swap the checkpoint ``write_resume`` wrote in for the previous one."""
    _swap(out_dir / _RESUME_TMP, out_dir / RESUME_DIR, out_dir / _RESUME_OLD)


def has_resume(out_dir: Path) -> bool:
    return (out_dir / RESUME_DIR).is_dir() or (out_dir / _RESUME_OLD).is_dir() or (out_dir / LEGACY_RESUME_FILE).exists()


def checkpointed_train_seconds(out_dir: Path) -> float:
    """The training seconds a run's checkpoint has counted (the pieces before a kill,
    up to their last checkpoint); 0 when it has none or an unreadable one. Reads
    state.json only, not the tensors, for a caller that times a resumed run."""
    try:
        seconds = _read_json(_resume_folder(out_dir) / "state.json")["state"]["seconds"].get("train", 0.0)
        return float(seconds)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0.0


def _resume_folder(out_dir: Path) -> Path:
    """The folder a resume reads: the checkpoint, or the previous one when a swap was
    cut off between removing the one and renaming the other."""
    folder = out_dir / RESUME_DIR
    return out_dir / _RESUME_OLD if not folder.is_dir() and (out_dir / _RESUME_OLD).is_dir() else folder


def load_resume(out_dir: Path) -> dict[str, Any]:
    """The checkpoint of ``out_dir``: its JSON state plus ``trainable``, ``moments`` and
    ``rng_tensors`` tensor dicts. CheckpointError naming the file when it is damaged."""
    if (out_dir / LEGACY_RESUME_FILE).exists() and not (out_dir / RESUME_DIR).exists():
        raise CheckpointError(
            f"{out_dir / LEGACY_RESUME_FILE}: a checkpoint of an older robust-xlt (format 1); this version "
            "cannot continue it. Start the run again with --overwrite."
        )
    folder = _resume_folder(out_dir)
    if folder.name == _RESUME_OLD:
        log.warning("%s is missing; resuming from the previous checkpoint in %s", out_dir / RESUME_DIR, folder)
    state_path = folder / "state.json"
    try:
        payload = _read_json(state_path)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{state_path}: cannot read the resume checkpoint ({exc}); delete {folder} to start again") from None
    if not isinstance(payload, dict) or any(k not in payload for k in _STATE_KEYS):
        missing = [k for k in _STATE_KEYS if not isinstance(payload, dict) or k not in payload]
        raise CheckpointError(f"{state_path}: not a robust-xlt resume checkpoint (missing {', '.join(missing)})")
    if payload["format_version"] != FORMAT_VERSION or isinstance(payload["format_version"], bool):
        raise CheckpointError(f"{state_path}: checkpoint format {payload['format_version']!r} is not this version's ({FORMAT_VERSION})")
    for key, name in (("trainable", "trainable.safetensors"), ("moments", "optimizer.safetensors"), ("rng_tensors", "rng.safetensors")):
        try:
            payload[key] = load_file(str(folder / name))
        except Exception as exc:  # safetensors raises its own error types for damaged files
            raise CheckpointError(
                f"{folder / name}: cannot read the resume checkpoint ({type(exc).__name__}: {exc}); "
                f"it is damaged. Delete {folder} to start the run again from step 0."
            ) from None
    return payload


def restore_model_and_optimizer(payload: dict[str, Any], model: Any, optimizer: torch.optim.Optimizer) -> None:
    """Load the checkpoint's trainable parameters and Adam state into ``model`` and ``optimizer``."""
    trainable = dict(model.named_parameters())
    expected = {name for name, p in trainable.items() if p.requires_grad}
    saved = set(payload["trainable"])
    if saved != expected:
        raise CheckpointError(
            f"resume checkpoint holds parameters {sorted(saved ^ expected)[:5]} that do not match the model's "
            "trainable ones (was --freeze-embeddings changed?)"
        )
    with torch.no_grad():
        for name, value in payload["trainable"].items():
            trainable[name].copy_(value)
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in payload["moments"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": payload["optimizer_groups"]})


def remove_resume(out_dir: Path) -> None:
    """Delete a finished run's checkpoint, renamed away first: a run killed while
    deleting leaves a whole checkpoint or none, never a damaged one."""
    tmp, final, old = out_dir / _RESUME_TMP, out_dir / RESUME_DIR, out_dir / _RESUME_OLD
    shutil.rmtree(tmp, ignore_errors=True)
    if final.is_dir():
        shutil.rmtree(old, ignore_errors=True)  # beside a whole resume/, only leftovers
    for live in (final, old):
        if live.is_dir():
            live.rename(tmp)
            shutil.rmtree(tmp, ignore_errors=True)


def _step_file(out_dir: Path, step: int) -> Path:
    return out_dir / ORACLE_STEPS_DIR / f"step-{step}.safetensors"


def save_step_weights(out_dir: Path, model: Any, step: int) -> int:
    """The trainable parameters of ``step`` as ``oracle-steps/step-<step>.safetensors``
    (written beside, flushed, renamed in); returns the bytes written."""
    path = _step_file(out_dir, step)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.contiguous().cpu() for k, v in trainable_state(model).items()}, str(tmp))
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path.stat().st_size


def load_step_weights(out_dir: Path, model: Any, step: int) -> None:
    """Put ``step``'s saved trainable parameters into ``model`` (loaded from ``best/``:
    its frozen parameters are the run's, which never change)."""
    path = _step_file(out_dir, step)
    try:
        weights = load_file(str(path))
    except Exception as exc:  # missing, cut short by a kill, or damaged (safetensors' own error types)
        raise CheckpointError(f"{path}: cannot read the oracle's step-{step} weights ({exc}); train again with --overwrite") from None
    expected = set(trainable_state(model))
    if set(weights) != expected:
        raise CheckpointError(f"{path}: holds {len(weights)} tensors, the model trains {len(expected)}: not this run's weights")
    _, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected, unexpected


def prune_step_weights(out_dir: Path, keep: set[int]) -> None:
    """Delete the saved steps not in ``keep``."""
    folder = out_dir / ORACLE_STEPS_DIR
    for path in folder.glob("step-*.safetensors") if folder.is_dir() else []:
        step = path.name.removeprefix("step-").removesuffix(".safetensors")
        if not step.isdigit() or int(step) not in keep:
            path.unlink(missing_ok=True)


def remove_step_weights(out_dir: Path) -> None:
    shutil.rmtree(out_dir / ORACLE_STEPS_DIR, ignore_errors=True)


def stale_temporaries(out_dir: Path, outputs: tuple[str, ...]) -> list[Path]:
    """The half-written folders and files a killed run left in ``out_dir``: the
    checkpoint and best-model temporaries, an older version's ``.resume-*.tmp`` and
    the atomic writers' ``.NAME.PID.tmp`` of the ``outputs`` and of predictions."""
    found = [out_dir / name for name in (_RESUME_TMP, _BEST_TMP) if (out_dir / name).exists()]
    patterns = [".resume-*.tmp", ".predictions-*.jsonl.*.tmp", *(f".{glob.escape(name)}.*.tmp" for name in outputs)]
    return found + sorted({p for pattern in patterns for p in out_dir.glob(pattern) if p.is_file()})


def remove_stale_temporaries(out_dir: Path, outputs: tuple[str, ...]) -> list[str]:
    """Delete what ``stale_temporaries`` finds; returns the names."""
    stale = stale_temporaries(out_dir, outputs)
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return [p.name for p in stale]


class BestModel:
    """The best model so far, held in memory (CPU copy of its weights) until flushed."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] | None = None
        self.info: dict[str, Any] | None = None
        self.dirty = False

    def update(self, model: Any, info: dict[str, Any]) -> None:
        # Frozen parameters never change, so they are held as they are, not copied: with
        # frozen word embeddings that is 96M of e5-small's 118M values per improvement.
        frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
        self.weights = {
            k: v.detach().to("cpu", copy=k not in frozen) for k, v in model.state_dict().items()
        }
        self.info, self.dirty = info, True

    def flush(self, out_dir: Path, model: Any, tokenizer: Any, config_toml: str) -> bool:
        """Write ``best/`` if it changed since the last flush; True when it did."""
        if not self.dirty or self.weights is None or self.info is None:
            return False
        save_best(out_dir, model, tokenizer, config_toml, self.info, state_dict=self.weights)
        self.dirty = False
        return True


def save_best(
    out_dir: Path, model: Any, tokenizer: Any, config_toml: str, info: dict[str, Any], state_dict: dict[str, torch.Tensor] | None = None
) -> Path:
    """Save the model (or ``state_dict`` in its architecture), its tokenizer, the run's
    config and ``info`` as ``out_dir/best``."""
    tmp, best, old = out_dir / _BEST_TMP, out_dir / BEST_DIR, out_dir / _BEST_OLD
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, state_dict=state_dict)
    tokenizer.save_pretrained(tmp)
    (tmp / CONFIG_IN_MODEL).write_text(config_toml, encoding="utf-8")
    (tmp / BEST_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    _swap(tmp, best, old)
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
        info = _read_json(path)
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the best model's info ({exc})") from None
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return info


def clear_outputs(out_dir: Path, names: tuple[str, ...]) -> None:
    """Remove this package's outputs (and only those) from ``out_dir``. ``names`` go
    last, the first of them (the run's config, which marks the folder as a run) very
    last: a clear cut short by a kill leaves a folder that is still a run to resume."""
    remove_stale_temporaries(out_dir, names)
    remove_resume(out_dir)
    remove_step_weights(out_dir)
    for p in out_dir.glob("predictions-*.jsonl"):
        p.unlink(missing_ok=True)
    for name in (LEGACY_RESUME_FILE, BEST_DIR, _BEST_TMP, _BEST_OLD, *reversed(names)):
        p = out_dir / name
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    """The JSON in ``path``; ValueError also for nesting deeper than the parser's
    recursion limit (a damaged or hostile file, never one this package wrote)."""
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _swap(tmp: Path, final: Path, old: Path) -> None:
    # ``old`` is deleted only while a whole ``final`` exists: without ``final`` (a swap
    # cut off between its renames) it is the checkpoint a resume reads.
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    _fsync(final.parent)


def _fsync(path: Path) -> None:
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
