"""Nothing lost under faults: `robust-xlt train` killed by SIGKILL at seeded-random
points (in training steps, inside resume/ and best/ writes, in the final evaluation
and its writes) and resumed each time ends byte for byte where an uninterrupted run
does; a kill at any file operation of a checkpoint swap, removal or clear leaves a
whole checkpoint; an evaluation that fails keeps the checkpoint; a killed run's
half-written files are removed at the next start; a run folder named by another path
still resumes, and eval refuses to write into it by any of its names.

The kill test runs the real CLI in child processes (tests/kill_driver.py) forked from a
server that imported torch once, so that a run starts in a fraction of a second. The
sweep behind ROBUST_XLT_FAULT_SWEEP=N runs fresh interpreters (each with its own hash
seed), more planned kills and kills at random moments, for N seeds and both task kinds.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import kill_driver
from robust_xlt.cli import main
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.training import TrainConfig, train
from robust_xlt.training import loop

SWEEP = os.environ.get("ROBUST_XLT_FAULT_SWEEP", "")
DEADLINE_S = 300  # a child still running after this is a hang
TOTAL, EVERY = 8, 2  # steps, and an evaluation (and checkpoint) every EVERY of them
# Fields that time the run, which no two runs share.
# "bytes": a checkpoint's state carries the seconds spent so far, whose digits vary.
TIMING = {"seconds", "s_per_step", "aug_fraction", "train_seconds", "step_seconds", "first_step_seconds", "eval_seconds", "checkpoint_seconds", "bytes"}
# Stages of a chain of kills, in the order a run reaches them: each kills at one of
# its points, drawn with the seed, at a call drawn among those the next run makes.
TRAINING_POINTS = ("step", "best-file", "best-swap", "resume-file", "resume-swap", "resume-done")
STAGES: tuple[tuple[str, ...], ...] = (
    ("best-file", "best-swap"),
    ("step",),
    ("resume-file",),
    ("resume-swap",),
    ("resume-done",),
    ("eval",),
    ("predictions", "results", "cleanup"),
)
SWEEP_STAGES = (*STAGES[:5], TRAINING_POINTS, TRAINING_POINTS, ("eval",), ("eval", "predictions", "results"), STAGES[-1])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def cli_args(task: str, tiny: str, out: Path) -> list[str]:
    """A seconds-long run on the smoke sample whose every evaluation writes a checkpoint;
    rs-da and a randomly started PGD draw from every generator the run has (Python's,
    numpy's, torch's and the per-step ones), and the QA run's lr moves its selected
    model several times."""
    args = ["train", "--model", tiny, "--task", task, "--method", "rs-da,adv", "--adv-init-mag", "0.3"]
    args += ["--batch-size", "8", "--threads", "1", "--device", "cpu", "--log-every", "1", "--checkpoint-interval", "0"]
    args += ["--max-steps", str(TOTAL), "--eval-every", str(EVERY), "--output-dir", str(out)]
    if task == "qa":
        return [*args, "--lr", "5e-3", "--max-length", "96", "--qa-overlap", "24", "--max-query-length", "24"]
    return [*args, "--lr", "1e-3", "--max-length", "48"]


# ------------------------------------------------------------------ launchers


class Forked:
    """Children forked from multiprocessing's fork server, which imports torch,
    transformers and robust_xlt once (the run itself is the real CLI's)."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("forkserver")
        self.context.set_forkserver_preload(list(kill_driver.PRELOAD))

    def start(self, argv: list[str], fault: tuple[str, int] | None, log: Path) -> Any:
        child = self.context.Process(target=kill_driver.run_cli, args=(argv, fault, str(log)))
        child.start()
        return _ForkedChild(child)


@dataclass(frozen=True)
class _ForkedChild:
    """A forked child with subprocess.Popen's poll and kill."""

    process: Any

    def poll(self) -> int | None:
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()


class Fresh:
    """Each run a fresh interpreter with its own hash seed, as a user's command is."""

    def __init__(self, seed: int) -> None:
        self.seeds = random.Random(seed)

    def start(self, argv: list[str], fault: tuple[str, int] | None, log: Path) -> Any:
        env = {**os.environ, "PYTHONHASHSEED": str(self.seeds.randrange(2**32))}
        spec = "none" if fault is None else f"{fault[0]}:{fault[1]}"
        with log.open("ab") as f:
            return subprocess.Popen([sys.executable, kill_driver.__file__, spec, *argv], stdout=f, stderr=subprocess.STDOUT, env=env)


# Lines a run prints when its main() starts (everything imported) and when its
# training loop starts (the loop's own log line): kills at random moments are timed
# from them.
STARTS, TRAINING = kill_driver.STARTS, " I training "


@dataclass(frozen=True)
class Ran:
    code: int  # -9: killed
    seen: dict[str, float]  # seconds from the start to each of STARTS and TRAINING
    seconds: float  # from the start to the end


def run(launcher: Any, argv: list[str], fault: tuple[str, int] | None, log: Path, kill: tuple[str, float] | None = None) -> Ran:
    """``robust-xlt ARGV``, killed at ``fault`` or, with ``kill`` (a line, seconds), that
    long after the line appears in its log."""
    log.touch()  # read below before the child may have opened it
    child = launcher.start(argv, fault, log)
    started = time.monotonic()
    seen: dict[str, float] = {}
    while (code := child.poll()) is None:
        now = time.monotonic() - started
        if now > DEADLINE_S:
            child.kill()
            pytest.fail(f"HANG: still running after {DEADLINE_S} s; log {log}:\n{tail(log)}")
        if len(seen) < 2:
            text = log.read_text(errors="replace")
            seen.update({line: now for line in (STARTS, TRAINING) if line not in seen and line in text})
        if kill is not None and kill[0] in seen and now >= seen[kill[0]] + kill[1]:
            child.kill()
            kill = None
        time.sleep(0.01)
    return Ran(int(code), seen, time.monotonic() - started)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


# ------------------------------------------------------------------ the run and its kills


@dataclass(frozen=True)
class Schedule:
    """What an uninterrupted run does, which a plan of kills needs."""

    checkpoints: list[int]  # steps whose evaluation writes a checkpoint
    best: list[int]  # those of them that also write best/
    langs: int

    @classmethod
    def of(cls, out: Path) -> Schedule:
        records = metrics(out)
        dev = [r for r in records if r["event"] == "dev"]
        langs = len(json.loads((out / "results.json").read_text())["languages"])
        return cls([r["step"] for r in dev], [r["step"] for r in dev if r["best"]], langs)

    def calls(self, point: str, start: int) -> int:
        """How often a run resumed at step ``start`` reaches ``point``; the training
        points are capped at the next two checkpoints, so later stages keep some."""
        later = [s for s in self.checkpoints if s > start][:2]
        best = [s for s in self.best if s > start][:2]
        return {
            "step": min(TOTAL - start, EVERY + 1),
            "best-file": len(best),
            "best-swap": len(best),
            "resume-file": 3 * len(later),
            "resume-swap": len(later),
            "resume-done": len(later),
            "eval": self.langs,
            "predictions": self.langs,
            "results": 1,
            "cleanup": 1,
        }[point]


def resume_step(out: Path) -> int | None:
    """Where the next --resume starts: the checkpoint it reads (resume/, else the
    previous one a cut-off swap left), step 0 without one, None for a finished run."""
    for name in ("resume", ".resume.old"):
        if (out / name).is_dir():
            return int(json.loads((out / name / "state.json").read_text())["step"])
    return None if (out / "results.json").exists() else 0


def metrics(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def untimed(out: Path) -> list[str]:
    return [json.dumps({k: v for k, v in r.items() if k not in TIMING}) for r in metrics(out)]


def assert_same_outputs(whole: Path, killed: Path) -> None:
    """Every file of the two run folders the same, byte for byte: metrics.jsonl up to
    its timing fields, config.toml and best/robust_xlt.toml up to the output folder."""
    files = sorted(str(p.relative_to(whole)) for p in whole.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(killed)) for p in killed.rglob("*") if p.is_file())
    assert not [f for f in files if f.endswith(".tmp") or f.startswith(("resume", "."))]
    for name in files:
        a, b = (whole / name).read_bytes(), (killed / name).read_bytes()
        if name == "metrics.jsonl":
            assert untimed(whole) == untimed(killed)
        elif name.endswith(".toml"):
            assert a.replace(str(whole).encode(), b"OUT") == b.replace(str(killed).encode(), b"OUT"), name
        else:
            assert a == b, name


def kill_chain(launcher: Any, argv: Any, out: Path, schedule: Schedule, seed: int, stages: tuple[tuple[str, ...], ...]) -> list[str]:
    """Start the run, kill it at one point of each stage (drawn with ``seed`` among
    those the next run reaches), resume after each kill, and finish it; returns the
    kills made, as 'point:n from step s'."""
    draw = random.Random(seed)
    made: list[str] = []
    runs = 0
    for stage in (*stages, ()):
        start = resume_step(out)
        if start is None and stage:
            continue  # finished: a kill in its cleanup came after its last write
        points = [p for p in stage if start is not None and schedule.calls(p, start) > 0]
        if stage and not points:
            continue
        fault = None
        if points:
            point = draw.choice(points)
            fault = (point, draw.randint(1, schedule.calls(point, start or 0)))
        log = out.parent / f"{out.name}-{runs}.log"
        code = run(launcher, argv(resume=runs > 0), fault, log).code
        runs += 1
        text = log.read_text(errors="replace")
        where = f"run {runs} ({fault} from step {start}); log {log}:\n{tail(log)}"
        if start is None:
            assert "already finished" in text, where
        elif start > 0:
            assert f"at step {start} of {TOTAL}" in text, f"did not resume from step {start}: {where}"
        if fault is None:
            assert code == 0, where
            continue
        assert code == -9, f"exit {code}, not killed: {where}"
        made.append(f"{fault[0]}:{fault[1]} from step {start}")
    assert resume_step(out) is None, f"unfinished after {made}"
    return made


def timed_kills(launcher: Any, argv: Any, tmp_path: Path, whole: Ran, kills: int, seed: int) -> list[Path]:
    """Kill runs at random moments, resuming each until it finishes, until ``kills``
    kills landed (at most 3 x ``kills`` tries); returns the finished run folders. A
    moment is drawn in the loading (a quarter of the kills) or in what is left of the
    training, final evaluation and writes, timed as ``whole`` took them."""
    draw = random.Random(seed)
    loading = whole.seen[TRAINING] - whole.seen[STARTS]
    training = whole.seconds - whole.seen[TRAINING]
    landed = tries = 0
    folders = []
    for episode in range(2, 10):  # folder paths as long as the uninterrupted run's
        out = tmp_path / str(episode) / "run"
        out.parent.mkdir()
        folders.append(out)
        runs = 0
        while (start := resume_step(out)) is not None:
            kill = None
            if landed < kills and tries < 3 * kills:
                left = max((TOTAL - start) / TOTAL, 0.2)
                kill = (STARTS, draw.uniform(0, loading)) if draw.random() < 0.25 else (TRAINING, draw.uniform(0, training * left))
                tries += 1
            log = out.parent / f"run-{runs}.log"
            code = run(launcher, argv(out)(resume=runs > 0), None, log, kill).code
            runs += 1
            assert code in ((0, -9) if kill else (0,)), f"exit {code}; log {log}:\n{tail(log)}"
            landed += code == -9
        # Once more, finished: a kill while it deleted its checkpoint left part of it.
        log = out.parent / f"run-{runs}.log"
        assert run(launcher, argv(out)(resume=True), None, log).code == 0 and "already finished" in log.read_text(), tail(log)
        if landed >= kills or tries >= 3 * kills:
            break
    logging.getLogger(__name__).info("%d kills at random moments in %d tries landed before their run ended", landed, tries)
    assert landed > 0
    return folders


def check_kills_and_resumes(launcher: Any, task: str, tiny: str, tmp_path: Path, seed: int, stages: Any, timed: int) -> None:
    # Folders of one name at paths of one length: the checkpoint's size counts the
    # output folder's path, which its config holds.
    whole, killed = tmp_path / "0" / "run", tmp_path / "1" / "run"

    def argv(out: Path):  # noqa: ANN202
        out.parent.mkdir(exist_ok=True)
        return lambda resume: [*cli_args(task, tiny, out), *(["--resume"] if resume else [])]

    log = tmp_path / "whole.log"
    ran = run(launcher, argv(whole)(False), None, log)
    assert ran.code == 0, tail(log)
    schedule = Schedule.of(whole)
    assert schedule.checkpoints == list(range(EVERY, TOTAL + 1, EVERY)) and schedule.best

    made = kill_chain(launcher, argv(killed), killed, schedule, seed, stages)
    logging.getLogger(__name__).info("kills: %s", made)
    kinds = {kind.split(":")[0] for kind in made}
    assert len(made) >= len(STAGES) and "step" in kinds and "eval" in kinds, made
    assert kinds & {"best-file", "best-swap"} and {"resume-file", "resume-swap", "resume-done"} <= kinds, made
    assert_same_outputs(whole, killed)
    if timed:
        for out in timed_kills(launcher, argv, tmp_path, ran, timed, seed):
            assert_same_outputs(whole, out)


def test_killed_runs_resume_to_the_same_files(tiny: str, tmp_path: Path) -> None:
    # PAWS-X: half the time of QA's runs (the sweep runs both); its dev score selects
    # the first evaluation's model, so best/ is written once.
    check_kills_and_resumes(Forked(), "pawsx", tiny, tmp_path, seed=0, stages=STAGES, timed=0)


@pytest.mark.skipif(not SWEEP, reason="the long kill sweep runs with ROBUST_XLT_FAULT_SWEEP=N (N seeds)")
@pytest.mark.parametrize("task", ["pawsx", "qa"])
@pytest.mark.parametrize("seed", range(int(SWEEP or 0)))
def test_kill_sweep_in_fresh_interpreters(tiny: str, tmp_path: Path, task: str, seed: int) -> None:
    check_kills_and_resumes(Fresh(seed), task, tiny, tmp_path, seed + 1, stages=SWEEP_STAGES, timed=6)


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


def test_an_error_in_the_final_evaluation_keeps_the_trained_checkpoint(tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default checkpoint interval (600 s): no checkpoint is due in a seconds-long
    # run but the one after its last step.
    whole = train(small(tiny, tmp_path / "whole"))
    config = small(tiny, tmp_path / "run")

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError("No space left on device")

    with monkeypatch.context() as m:
        m.setattr(loop, "evaluate_languages", fail)
        with pytest.raises(OSError, match="No space left"):
            train(config)
    out = tmp_path / "run"
    assert json.loads((out / "resume" / "state.json").read_text())["step"] == 3
    assert (out / "best").is_dir() and not (out / "results.json").exists()
    steps: list[int] = []
    resumed = train(config, resume=True, on_step=steps.append)
    assert steps == []  # evaluated again, not trained again
    assert resumed.results == whole.results
    for name in ("results.md", "predictions-de.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not (out / "resume").exists()


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


def test_a_run_folder_named_by_another_path_still_resumes(
    tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Interrupted (Ctrl-C) after one step each time, and resumed as x, ./x, its
    absolute path, a symbolic link to it, and after a move; then eval refuses to write
    into it by any of its names."""
    monkeypatch.chdir(tmp_path)
    real_step = loop.optimizer_step
    calls = 0

    def interrupt_on_the_second_step(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "optimizer_step", interrupt_on_the_second_step)
    flags = ["--model", tiny, "--task", "pawsx", "--batch-size", "8", "--max-length", "48", "--threads", "1", "--device", "cpu"]
    flags += ["--max-steps", "5", "--eval-every", "1", "--checkpoint-interval", "0"]
    Path("link").symlink_to("x")
    names = ["x", "./x", str(tmp_path / "x"), "link", "moved/x/"]
    for step, name in enumerate(names):
        if name.startswith("moved"):
            Path("moved").mkdir()
            Path("x").rename("moved/x")
        calls = 0
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="robust_xlt"):
            code = main(["train", *flags, *(["--resume"] if step else []), "--output-dir", name])
        assert code == (0 if name == names[-1] else 130), name
        if step:
            assert f"at step {step} of 5" in caplog.text, name
    assert json.loads(Path("moved/x/results.json").read_text())["steps"] == 5
    capsys.readouterr()
    Path("again").symlink_to("moved/x")
    before = {p: p.read_bytes() for p in Path("moved/x").rglob("*") if p.is_file()}
    for name in ("moved/x", "./moved/x/", str(tmp_path / "moved" / "x"), "again", "moved/x/best/.."):
        assert main(["eval", "--model-dir", "moved/x/best", "--output-dir", name]) == 2, name
        assert "holds a training run" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in Path("moved/x").rglob("*") if p.is_file()} == before
