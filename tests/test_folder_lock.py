"""One writer per output folder (folder_lock.py): a live holder refuses a second run or
grid in its folder, naming itself; a dead one (killed however) blocks nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from robust_xlt.cli import main
from robust_xlt.compare import GridError, load_grid, run_grid
from robust_xlt.folder_lock import LOCK_FILE, FolderBusyError, FolderLock
from robust_xlt.models import make_tiny_model_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(make_tiny_model_dir(tmp_path_factory.mktemp("tiny-model"), seed=0))


def train_flags(tiny: str, out: Path) -> list[str]:
    return ["train", "--task", "xnli", "--model", tiny, "--output-dir", str(out), "--max-steps", "2", "--eval-every", "1",
            "--batch-size", "8", "--max-length", "48", "--device", "cpu", "--checkpoint-interval", "0"]  # fmt: skip


def hold_in_another_process(folder: Path) -> subprocess.Popen[str]:
    """A process that takes the folder's lock, says so, and waits to be killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from robust_xlt.folder_lock import FolderLock
        FolderLock(Path({str(folder)!r}), "the holder").acquire()
        print("held", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_is_refused_and_a_released_folder_is_left_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "run"
    with FolderLock(folder, "the first"):
        assert (folder / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(FolderBusyError, match=rf"{folder} is being written by another process \(pid {os.getpid()} "):
            FolderLock(folder, "the second").acquire()
    assert not (tmp_path / "new").exists(), "the folders the lock made, still empty, go again"
    kept = tmp_path / "kept"
    kept.mkdir()
    with FolderLock(kept, "a run"):
        (kept / "results.json").write_text("{}")
    assert sorted(p.name for p in kept.iterdir()) == ["results.json"]


def test_a_killed_holder_blocks_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    holder = hold_in_another_process(folder)
    with pytest.raises(FolderBusyError, match=rf"pid {holder.pid} "):
        FolderLock(folder, "a run").acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (folder / LOCK_FILE).exists(), "a killed holder cannot remove its file"
    with FolderLock(folder, "the next run"):
        assert (folder / LOCK_FILE).read_text().startswith(f"pid {os.getpid()} ")


@pytest.fixture(scope="module")
def finished_run(tiny: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(train_flags(tiny, out)) == 0
    assert not (out / LOCK_FILE).exists(), "a finished run leaves no lock file"
    return out


def test_train_in_a_folder_another_process_writes_is_refused_and_changes_nothing(
    tiny: str, finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    holder = hold_in_another_process(out)  # as a killed launcher's surviving worker would
    try:
        capsys.readouterr()
        assert main([*train_flags(tiny, out), "--resume"]) != 0
        err = capsys.readouterr().err
        assert f"{out} is being written by another process (pid {holder.pid} " in err and "Traceback" not in err
        assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*") if p.name != LOCK_FILE} == before
    finally:
        holder.kill()
        holder.wait()
    assert main([*train_flags(tiny, out), "--resume"]) == 0  # finished: nothing to do, and no lock in the way
    assert not (out / LOCK_FILE).exists()


@pytest.mark.parametrize("command", ["eval", "attack"])
def test_eval_and_attack_into_a_folder_another_process_writes_are_refused(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    out = tmp_path / command
    argv = [command, "--model-dir", str(finished_run / "best"), "--output-dir", str(out), "--device", "cpu", "--max-length", "48"]
    holder = hold_in_another_process(out)
    try:
        capsys.readouterr()
        assert main(argv) != 0
        err = capsys.readouterr().err
        assert f"{out} is being written by another process (pid {holder.pid} " in err and "Traceback" not in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    finally:
        holder.kill()
        holder.wait()
    assert main(argv) == 0
    assert (out / ("attack.json" if command == "attack" else "results.json")).exists() and not (out / LOCK_FILE).exists()


def test_a_second_compare_on_a_grid_folder_is_refused(tiny: str, tmp_path: Path) -> None:
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(
        f"""
seeds = [0]
[settings]
model = "{tiny}"
max_steps = 1
batch_size = 8
max_length = 48
device = "cpu"
[tasks.xnli]
task = "xnli"
[[tasks.xnli.methods]]
method = "standard"
"""
    )
    root = tmp_path / "grid"
    holder = hold_in_another_process(root)
    try:
        with pytest.raises(GridError, match=rf"{root} is being written by another process \(pid {holder.pid} "):
            run_grid(load_grid(grid_file, output_dir=root))
        assert sorted(p.name for p in root.iterdir()) == [LOCK_FILE], "nothing of the grid was written"
    finally:
        holder.kill()
        holder.wait()
    outcome = run_grid(load_grid(grid_file, output_dir=root), report=False)
    assert outcome.ran == ["xnli-standard-seed0"] and not (root / LOCK_FILE).exists()
