"""`robust-xlt` (``robust_xlt.cli.main``) in a process that SIGKILLs itself the n-th
time it reaches a named point of a training run, for tests/test_faults.py.

Each point wraps a function of ``robust_xlt.training`` that the run looks up at call
time, so the run is the real one up to the kill. Kills that land inside a write leave
it half done the way a real kill would: a file cut in half, one rename of two. A
point that is never reached lets the run finish; the tests check that every planned
kill happened (the process died of SIGKILL).

Run as a script (``python kill_driver.py POINT:N|none ARGV...``) for a fresh
interpreter, or call ``run_cli`` in a forked child.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

# What a forkserver imports once for all its children: torch, transformers' BERT (the
# tiny model's architecture) and the package.
PRELOAD: tuple[str, ...] = (
    "torch",
    "transformers",
    "transformers.models.bert.modeling_bert",
    "safetensors.torch",
    "robust_xlt.cli",
    "robust_xlt.training.loop",
    "robust_xlt.qa",
    "kill_driver",
)

# Printed just before main() starts (everything imported) and when it returns: a kill
# at a random moment is timed from the first, and a share of the second.
STARTS = "kill_driver: main starts"
TOOK = "kill_driver: main took"

# The points, in the order a run reaches them.
POINTS: dict[str, str] = {
    "step": "after the n-th optimizer step, before that step's evaluation and checkpoint",
    "best-file": "the n-th write of best/: its weights cut in half in .best.tmp/",
    "best-swap": "between the two renames of the n-th best/ swap",
    "resume-file": "the n-th file of a resume checkpoint (3 a checkpoint) cut in half in .resume.tmp/",
    "resume-swap": "between the two renames of the n-th resume/ swap",
    "resume-done": "just after the n-th resume/ swap, the checkpoint in use",
    "eval": "the final evaluation, as its n-th language starts",
    "predictions": "after the n-th predictions file is written",
    "results": "results.json half written into its temporary file",
    "cleanup": "a file into deleting the finished run's checkpoint",
}


def _die() -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def _cut(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def install(point: str, n: int) -> None:
    """Make this process kill itself the ``n``-th time it reaches ``point``."""
    from robust_xlt.atomic import temp_path
    from robust_xlt.training import checkpoint, loop

    if point not in POINTS:
        raise ValueError(f"unknown point {point!r}; known: {', '.join(POINTS)}")
    hits = 0

    def hit() -> bool:
        nonlocal hits
        hits += 1
        return hits == n

    if point == "step":
        real_step = loop.optimizer_step

        def optimizer_step(*args: Any, **kwargs: Any) -> Any:
            out = real_step(*args, **kwargs)
            if hit():
                _die()
            return out

        loop.optimizer_step = optimizer_step
    elif point == "best-file":
        real_best = checkpoint.save_best

        def save_best(out_dir: Path, model: Any, tokenizer: Any, config_toml: str, info: Any, state_dict: Any = None) -> Path:
            if hit():
                tmp = out_dir / checkpoint._BEST_TMP
                shutil.rmtree(tmp, ignore_errors=True)
                model.save_pretrained(tmp, state_dict=state_dict)
                _cut(tmp / "model.safetensors")
                _die()
            return real_best(out_dir, model, tokenizer, config_toml, info, state_dict=state_dict)

        checkpoint.save_best = save_best
    elif point in ("best-swap", "resume-swap", "resume-done"):
        real_swap = checkpoint._swap
        name = checkpoint._BEST_TMP if point == "best-swap" else checkpoint._RESUME_TMP

        def swap(tmp: Path, final: Path, old: Path) -> None:
            if tmp.name != name or point == "resume-done":
                real_swap(tmp, final, old)
                if tmp.name == name and hit():
                    _die()
                return
            if hit():
                if final.exists():  # the first rename only
                    shutil.rmtree(old, ignore_errors=True)
                    final.rename(old)
                _die()
            real_swap(tmp, final, old)

        checkpoint._swap = swap
    elif point == "resume-file":
        real_save = checkpoint.save_file

        def save_file(tensors: Any, filename: str | os.PathLike[Any], *args: Any, **kwargs: Any) -> None:
            real_save(tensors, filename, *args, **kwargs)
            if hit():
                _cut(Path(filename))
                _die()

        checkpoint.save_file = save_file
    elif point == "eval":
        real_eval = loop.evaluate_languages

        def evaluate_languages(task: Any, model: Any, tokenizer: Any, sets: Any, settings: Any, device: Any) -> Any:
            out = {}
            for lang, examples in sets.items():
                if hit():
                    _die()
                out.update(real_eval(task, model, tokenizer, {lang: examples}, settings, device))
            return out

        loop.evaluate_languages = evaluate_languages
    elif point == "predictions":
        real_predictions = loop.write_predictions

        def write_predictions(*args: Any, **kwargs: Any) -> Any:
            out = real_predictions(*args, **kwargs)
            if hit():
                _die()
            return out

        loop.write_predictions = write_predictions
    elif point == "results":
        real_json = loop.write_json

        def write_json(path: Path, value: Any) -> None:
            if path.name == "results.json" and hit():
                text = json.dumps(value, indent=2)
                temp_path(path).write_text(text[: len(text) // 2], encoding="utf-8")
                _die()
            real_json(path, value)

        loop.write_json = write_json
    elif point == "cleanup":
        real_rmtree, real_remove = shutil.rmtree, checkpoint.remove_resume
        armed = False

        def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
            folder = Path(path)
            files = sorted(f for f in folder.iterdir() if f.is_file()) if armed and folder.is_dir() else []
            if files and hit():
                files[0].unlink()
                _die()
            real_rmtree(path, *args, **kwargs)

        def remove_resume(out_dir: Path) -> None:
            nonlocal armed
            armed = True
            real_remove(out_dir)

        shutil.rmtree = rmtree  # type: ignore[assignment]  # armed only inside remove_resume
        checkpoint.remove_resume = remove_resume


def run_cli(argv: list[str], fault: tuple[str, int] | None, log_path: str | None = None) -> None:
    """``robust-xlt ARGV`` killed at ``fault`` (point, n) if given, its stdout and
    stderr appended to ``log_path`` if given; exits with the CLI's status."""
    if log_path is not None:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    for name in PRELOAD[:-1]:
        importlib.import_module(name)
    print(f"kill_driver: pid {os.getpid()}, fault {fault}, argv {argv}", flush=True)
    if fault is not None:
        install(*fault)
    from robust_xlt.cli import main

    print(STARTS, flush=True)
    started = time.perf_counter()
    code = main(argv)
    print(f"{TOOK} {time.perf_counter() - started:.3f} s", flush=True)
    sys.exit(code)


def parse_fault(text: str) -> tuple[str, int] | None:
    if text == "none":
        return None
    point, _, n = text.rpartition(":")
    return point, int(n)


if __name__ == "__main__":
    run_cli(sys.argv[2:], parse_fault(sys.argv[1]))
