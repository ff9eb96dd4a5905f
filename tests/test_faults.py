"""Nothing lost under faults: a kill at any file operation of a checkpoint swap,
removal or clear leaves a whole checkpoint and a run folder that is still the run, and
a killed run's half-written files are removed at the next start.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training import TrainConfig, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


# ------------------------------------------------------------------ checkpoint writes, one operation at a time


class Killed(Exception):
    pass


class KillAt:
    """Makes the ``n``-th file-system operation (a folder deletion, a rename, a file
    deletion) stop the process there: a deletion first removes one file of its folder,
    as a kill in the middle of it would leave."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
        self.n, self.count, self.hit = n, 0, False
        real_rmtree, real_rename, real_unlink = shutil.rmtree, Path.rename, Path.unlink

        def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
            folder = Path(path)
            if self._now():
                files = sorted(f for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else []
                if files:
                    real_unlink(files[0])
                raise Killed
            real_rmtree(path, *args, **kwargs)

        def rename(self_: Path, target: Any) -> Any:
            if self._now():
                raise Killed
            return real_rename(self_, target)

        def unlink(self_: Path, missing_ok: bool = False) -> None:
            if self._now():
                raise Killed
            real_unlink(self_, missing_ok=missing_ok)

        monkeypatch.setattr(shutil, "rmtree", rmtree)
        monkeypatch.setattr(Path, "rename", rename)
        monkeypatch.setattr(Path, "unlink", unlink)

    def _now(self) -> bool:
        self.count += 1
        self.hit = self.hit or self.count == self.n
        return self.count == self.n


def _checkpoint(out: Path, step: int) -> None:
    """A small real checkpoint of ``step`` in ``out/.resume.tmp``, not yet in use."""
    import torch

    from robust_xlt.training import checkpoint as ckpt

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    state = {"step": step, "scheduler": {}, "rng": {}, "state": {}, "config": {}, "runtime": {}}
    ckpt.write_resume(out, model=model, optimizer=optimizer, rng_tensors={"cpu": torch.get_rng_state()}, state=state)


def _next_start(out: Path) -> int | None:
    """What the next start resumes from after its clean-up: the checkpoint's step, or
    None when there is none; a damaged one fails here."""
    from robust_xlt.training import checkpoint as ckpt
    from robust_xlt.training.outputs import OUTPUT_FILES

    ckpt.remove_stale_temporaries(out, OUTPUT_FILES)
    return int(ckpt.load_resume(out)["step"]) if ckpt.has_resume(out) else None


# Folders a kill can leave: resume/ alone; only .resume.old/ (a swap cut between its
# renames); resume/ beside part of a deleted .resume.old/.
BEFORE = {"resume": ("resume",), "old-only": (".resume.old",), "resume-and-part-of-old": ("resume", ".resume.old")}


@pytest.mark.parametrize("before", list(BEFORE))
@pytest.mark.parametrize("action", ["commit", "remove"])
def test_a_kill_at_any_operation_of_a_checkpoint_swap_or_removal_leaves_a_whole_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: str, action: str
) -> None:
    from robust_xlt.training import checkpoint as ckpt

    for n in range(1, 30):
        out = tmp_path / str(n)
        out.mkdir()
        for i, name in enumerate(BEFORE[before]):
            _checkpoint(out, 1)
            (out / ".resume.tmp").rename(out / name)
            if i == 1:  # the part of a deletion cut short
                next(p for p in sorted((out / name).iterdir()) if p.suffix == ".safetensors").unlink()
        if action == "commit":
            _checkpoint(out, 2)
        with monkeypatch.context() as m:
            kill = KillAt(m, n)
            try:
                ckpt.commit_resume(out) if action == "commit" else ckpt.remove_resume(out)
            except Killed:
                pass
        step = _next_start(out)
        if action == "commit":
            assert step in (1, 2) and (kill.hit or step == 2), (n, step)
        else:
            assert step in (1, None) and (kill.hit or step is None), (n, step)
        if not kill.hit:
            break
    else:
        pytest.fail("never ran to its end")


def test_a_kill_while_a_run_is_cleared_leaves_it_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--resume of a run cut off before its first checkpoint clears it and starts over;
    cut off while clearing, the folder must still be that run (its config.toml goes
    last), never a folder of leftovers that --resume refuses as no run."""
    from robust_xlt.training import checkpoint as ckpt
    from robust_xlt.training.outputs import OUTPUT_FILES

    for n in range(1, 40):
        out = tmp_path / str(n)
        for name in (*OUTPUT_FILES, "predictions-en.jsonl", "best/model.safetensors", ".best.old/model.safetensors", ".results.md.9.tmp"):
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("x")
        with monkeypatch.context() as m:
            kill = KillAt(m, n)
            try:
                ckpt.clear_outputs(out, OUTPUT_FILES)
            except Killed:
                pass
        left = sorted(p.name for p in out.iterdir())
        assert "config.toml" in left or not left, (n, left)
        if not kill.hit:
            assert not left
            break
    else:
        pytest.fail("never ran to its end")


# ------------------------------------------------------------------ in-process runs


def small(tiny: str, out: Path, **overrides: Any) -> TrainConfig:
    base: dict[str, Any] = dict(task="pawsx", model=tiny, batch_size=8, max_steps=3, eval_every=2, max_length=48, threads=1, device="cpu")
    return TrainConfig(**{**base, "output_dir": str(out), **overrides})


def test_a_killed_runs_half_written_files_are_removed_at_the_next_start(tiny: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = small(tiny, out, max_steps=4, checkpoint_interval=0.0)

    def stop(step: int) -> None:
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        train(config, on_step=stop)
    stale = [".resume-4242.tmp", ".best.tmp/model.safetensors", ".resume.tmp/state.json", ".predictions-de.jsonl.4242.tmp"]
    stale += [f".{name}.4242.tmp" for name in ("config.toml", "metrics.jsonl", "results.json", "results.md", "splits.json")]
    mine = ["notes.tmp", ".notes.md.4242.tmp", "draft/.best.tmp", ".results.json.bak"]
    for name in (*stale, *mine):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"half")
    steps: list[int] = []
    train(config, resume=True, on_step=steps.append)
    assert steps == [3, 4]  # from the checkpoint at step 2
    assert not [name for name in stale if (out / name).exists()] and not (out / ".best.tmp").exists()
    assert all((out / name).read_bytes() == b"half" for name in mine)
