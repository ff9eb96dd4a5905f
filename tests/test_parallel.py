"""Data-parallel training (issue 10): `robust-xlt train` under torchrun with 2 CPU
processes (gloo) against 1 process on the same global batch, a 2-process run killed
and resumed against an uninterrupted one, and mixed precision."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import torch

from robust_xlt.evaluation import read_predictions
from robust_xlt.models import make_tiny_model_dir
from robust_xlt.cli import main
from robust_xlt.training import ConfigError, TrainConfig, build_config, train

# Tolerance of the 1- against the 2-process run: the same global batch, so the same
# gradient up to float rounding (a sum of two block means against one mean; blocks
# padded to their own longest row run other matrix shapes).
LOSS_TOLERANCE = 1e-5
PROBABILITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model without dropout: its masks are the one draw a process makes
    for itself in a standard run, so without them 1 and 2 processes compute the same."""
    path = make_tiny_model_dir(tmp_path_factory.mktemp("tiny-nodropout"), seed=0)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return str(path)


def flags(tiny: str, out: Path, **extra: Any) -> list[str]:
    settings: dict[str, Any] = {
        "task": "xnli",
        "model": tiny,
        "output-dir": str(out),
        "max-steps": 6,
        "eval-every": 2,
        "log-every": 1,
        "batch-size": 8,
        "max-length": 48,
        "threads": 1,
        "device": "cpu",
        "checkpoint-interval": 0,
        "lr": 5e-3,
    }
    settings.update({k.replace("_", "-"): v for k, v in extra.items()})
    return [item for k, v in settings.items() for item in (f"--{k}", str(v))]


def launch(args: list[str], processes: int = 2, **popen: Any) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}", "-m", "robust_xlt.cli", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def run(args: list[str], processes: int = 2) -> str:
    proc = launch(args, processes)
    output, _ = proc.communicate(timeout=300)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    return text


def records(out: Path, event: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("event") == event]


def test_two_processes_train_what_one_process_trains(tiny: str, tmp_path: Path) -> None:
    assert main(["train", *flags(tiny, tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    text = run(flags(tiny, tmp_path / "two"))
    assert text.count("results:") == 1, "only process 0 prints the results"
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    assert two["languages"] == one["languages"] and two["best_step"] == one["best_step"]
    losses = [(r["loss"], s["loss"]) for r, s in zip(records(tmp_path / "one", "train"), records(tmp_path / "two", "train"), strict=True)]
    assert len(losses) == 6
    assert all(abs(a - b) <= LOSS_TOLERANCE * max(1.0, abs(a)) for a, b in losses), losses
    assert losses[0][0] != losses[-1][0], "the model trained"
    for lang in one["languages"]:
        a, b = read_predictions(tmp_path / "one", lang), read_predictions(tmp_path / "two", lang)
        assert [r["id"] for r in a] == [r["id"] for r in b]
        for ra, rb in zip(a, b, strict=True):
            assert max(abs(x - y) for x, y in zip(ra["probabilities"], rb["probabilities"], strict=True)) <= PROBABILITY_TOLERANCE
    # One process wrote the folder: one config, one metrics line per event.
    assert len(records(tmp_path / "two", "dev")) == 3
    log_two = [r for r in records(tmp_path / "two", "checkpoint")]
    assert [r["step"] for r in log_two] == [2, 4, 6]


def test_a_killed_two_process_run_resumes_to_the_same_result(tiny: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    random_methods = {"method": "rs-da,adv", "adv_init_mag": 0.3, "max_steps": 16}
    run(flags(tiny, tmp_path / "whole", **random_methods))
    killed = tmp_path / "killed"
    proc = launch(flags(tiny, killed, **random_methods), start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (killed / "metrics.jsonl").exists() and records_safe(killed, "checkpoint"):
            break
        time.sleep(0.01)
    kill_launcher_and_workers(proc)
    assert not (killed / "results.json").exists(), "the run finished before the kill; nothing was tested"
    assert (killed / "resume" / "state.json").exists()
    # Another number of processes would continue another computation: refused.
    assert main(["train", *flags(tiny, killed, **random_methods), "--resume"]) != 0
    assert "number of processes" in capsys.readouterr().err
    run([*flags(tiny, killed, **random_methods), "--resume"])
    whole = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert json.loads((killed / "results.json").read_text()) == whole
    for lang in whole["languages"]:
        assert read_predictions(killed, lang) == read_predictions(tmp_path / "whole", lang)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("seconds", "s_per_step", "aug_share", "elapsed")} for r in rs]  # noqa: E731
    for event in ("train", "edits", "dev"):
        assert [r["step"] for r in records(killed, event)] == [r["step"] for r in records(tmp_path / "whole", event)]
    assert [r["loss"] for r in records(killed, "train")] == [r["loss"] for r in records(tmp_path / "whole", "train")]
    assert strip(records(killed, "edits")) == strip(records(tmp_path / "whole", "edits"))


def kill_launcher_and_workers(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL to torchrun and its workers at once, as a lost machine stops them. torchrun
    starts each worker in a session of its own, so killing its process group alone
    would leave them running: they would finish the run themselves, and the resume
    below would find it done (or race them in the folder) instead of being tested."""
    launcher = psutil.Process(proc.pid)
    workers = launcher.children(recursive=True)
    assert workers, "torchrun had started no workers"
    for p in [launcher, *workers]:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.send_signal(signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers survived the kill: {alive}"


def records_safe(out: Path, event: str) -> list[dict[str, Any]]:
    rows = []
    for line in (out / "metrics.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return [r for r in rows if r.get("event") == event]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes(tiny: str, tmp_path: Path, precision: str) -> None:
    args = flags(tiny, tmp_path / "whole", precision=precision, method="adv", adv_init_mag=0.3)
    assert main(["train", *args]) == 0
    losses = [r["loss"] for r in records(tmp_path / "whole", "train")]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(v)) for v in losses)
    # Killed after its checkpoint at step 4 and resumed: the same run (fp16's scale included).
    config = config_of(flags(tiny, tmp_path / "killed", precision=precision, method="adv", adv_init_mag=0.3))
    with pytest.raises(Killed):
        train(config, on_step=kill_at(5))
    state = json.loads((tmp_path / "killed" / "resume" / "state.json").read_text())
    assert ("precision" in state) == (precision == "fp16")
    train(config, resume=True)
    assert json.loads((tmp_path / "killed" / "results.json").read_text()) == json.loads((tmp_path / "whole" / "results.json").read_text())
    assert [r["loss"] for r in records(tmp_path / "killed", "train")] == losses


class Killed(Exception):
    pass


def kill_at(step: int) -> Any:
    def hook(s: int) -> None:
        if s == step:
            raise Killed

    return hook


def config_of(args: list[str]) -> TrainConfig:
    """The config of `train` flags, parsed by the CLI's own parser."""
    from robust_xlt.cli import build_parser, config_layers

    return build_config(*config_layers(build_parser().parse_args(["train", *args])))


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        TrainConfig(precision="fp8").resolved()


def test_the_gpu_step_benchmark_runs_a_small_size_on_a_cpu(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "benches" / "gpu_step.py"
    spec = importlib.util.spec_from_file_location("gpu_step", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "table"
    argv = ["--size", "tiny", "--methods", "standard", "--steps", "1", "--warmup", "1", "--batch-size", "4", "--max-length", "32", "--output", str(out)]
    assert bench.main(argv) == 0
    table = json.loads(out.with_suffix(".json").read_text())
    assert list(table["methods"]) == ["bare transformers loop", "standard"]
    assert table["methods"]["bare transformers loop"]["ratio"] == 1.0
    assert all(m["s_per_step"] > 0 for m in table["methods"].values())
    assert "| standard |" in capsys.readouterr().out
