"""Data-parallel training across processes, and mixed precision.

``robust-xlt train`` runs unchanged under ``accelerate launch`` or ``torchrun``: when
the launcher starts more than one process (``WORLD_SIZE`` > 1), Hugging Face
accelerate sets up the process group (gloo on CPUs, NCCL on GPUs), gives each process
its device, and carries the collectives below. One process is the plain loop, with no
process group at all, so a 1-process run is what it always was, bit for bit.

How a step is split (``Processes``):

- Step ``s``'s global batch (``batch_size`` examples, the same ``BatchOrder`` as one
  process) is cut into contiguous blocks, one per process. Each process augments,
  attacks (adv-sub) and trains on its block only, with random draws of its own
  (``rank_seed``): nothing is computed twice.
- Each process weights its loss by its share of the global batch and the gradients
  are summed across processes once per step, before clipping, so the update is the
  gradient of the global batch's mean loss, as one process computes it. The model is
  not wrapped in DistributedDataParallel: DDP's reducer expects one forward pass per
  backward pass, and PGD's ascents, FreeLB's K passes and adv-sub's ranking passes run
  several; one sum per step moves the same bytes as DDP's last bucket.
- What steers the run (a curriculum's observed success rate, edit and adversary
  counts, the logged loss) is summed across processes, so every process takes the
  same decisions and the logs tell the whole batch.
- Only process 0 writes: metrics, checkpoints, ``best/``, results. It evaluates the
  dev and evaluation sets alone while the others wait (evaluation is not sharded).
  The resume checkpoint holds every process's random state (dropout), so a resumed
  run with the same number of processes continues exactly.

Mixed precision (``Precision``): bf16 or fp16 autocast of the forward passes (losses
and parameters stay fp32); fp16 scales the gradients to keep small ones from
underflowing, with torch's GradScaler, whose state is checkpointed. Evaluation runs in
fp32, so scores compare across precisions.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch

from robust_xlt.training.config import ConfigError

log = logging.getLogger(__name__)

# Evaluation runs on process 0 while the others wait in a collective; a long final
# evaluation on a CPU must not trip the process group's timeout (30 min by default).
COLLECTIVE_TIMEOUT = timedelta(hours=6)


def _launcher_count(name: str, default: int) -> int:
    """A launcher's environment count (WORLD_SIZE, LOCAL_WORLD_SIZE, RANK); ``default``
    without a launcher or for a value that is not a number."""
    try:
        return int(os.environ.get(name, str(default)))
    except ValueError:
        return default


def launched_processes() -> int:
    """How many processes the launcher started (1 without one)."""
    return max(1, _launcher_count("WORLD_SIZE", 1))


def launched_per_machine() -> int:
    """Processes the launcher started on this machine (1 without one): they share its cores."""
    return max(1, _launcher_count("LOCAL_WORLD_SIZE", 1))


def launched_rank() -> int:
    """This process's rank in the launcher's group (0 without one)."""
    return _launcher_count("RANK", 0)


@dataclass
class Processes:
    """This process's place among a run's processes, and the collectives the loop
    needs; with one process every collective is the identity."""

    rank: int = 0
    world: int = 1
    local_world: int = 1
    accelerator: Any = None  # accelerate.Accelerator when world > 1

    @classmethod
    def start(cls, device: str) -> Processes:
        """One process, or this process of a launched group (accelerate's state)."""
        if launched_processes() == 1:
            return cls()
        try:
            from accelerate import Accelerator
            from accelerate.utils import InitProcessGroupKwargs
        except ImportError:  # pragma: no cover - a dependency of the package
            raise ConfigError("training in several processes needs accelerate: pip install accelerate") from None
        cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
        accelerator = Accelerator(cpu=cpu, kwargs_handlers=[InitProcessGroupKwargs(timeout=COLLECTIVE_TIMEOUT)])
        state = accelerator.state
        return cls(state.process_index, state.num_processes, max(1, _launcher_count("LOCAL_WORLD_SIZE", state.num_processes)), accelerator)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device | None:
        """The device the launcher gave this process (None with one process)."""
        return None if self.accelerator is None else self.accelerator.device

    def block(self, items: Sequence[Any]) -> list[Any]:
        """This process's contiguous block of a global batch (sizes differ by at most one)."""
        n = len(items)
        return list(items[n * self.rank // self.world : n * (self.rank + 1) // self.world])

    def sum(self, values: Sequence[float]) -> list[float]:
        """Elementwise sums over the processes, in float64."""
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        return [float(v) for v in self.accelerator.reduce(t, reduction="sum").tolist()]

    def sum_gradients(self, parameters: Sequence[torch.nn.Parameter]) -> None:
        """Each gradient replaced by its sum over the processes, in one flat collective.
        A parameter without a gradient in one process counts as zeros there; one without
        a gradient in every process keeps none (AdamW skips it, as one process does)."""
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        has = torch.tensor([float(p.grad is not None) for p in parameters], dtype=grads[0].dtype, device=grads[0].device)
        flat = self.accelerator.reduce(torch.cat([*(g.reshape(-1) for g in grads), has]), reduction="sum")
        offset = 0
        for p, g in zip(parameters, grads, strict=True):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n
        for p, count in zip(parameters, flat[offset:].tolist(), strict=True):
            if count == 0:
                p.grad = None

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (picklable), in rank order, on every process."""
        if self.world == 1:
            return [value]
        from accelerate.utils import gather_object

        return list(gather_object([value]))

    def share(self, value: Any) -> Any:
        """Process 0's ``value`` on every process."""
        if self.world == 1:
            return value
        from accelerate.utils import broadcast_object_list

        box = [value if self.main else None]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def wait(self) -> None:
        if self.world > 1:
            self.accelerator.wait_for_everyone()

    def first_decides(self, action: Any) -> Any:
        """Run ``action`` on process 0 and give its result to every process. An error
        there is raised there as it is and on the others as a ConfigError naming it
        (they would otherwise wait for process 0 for ever)."""
        if self.world == 1:
            return action()
        if not self.main:
            kind, value = self.share(None)
            if kind == "error":
                raise ConfigError(f"process 0 stopped: {value}")
            return value
        try:
            value = action()
        except BaseException as exc:
            self.share(("error", f"{type(exc).__name__}: {exc}"))
            raise
        self.share(("ok", value))
        return value


def rank_seed(seed: int, rank: int) -> int:
    """The seed of a process's own draws: the run seed on process 0 (so one process
    draws what it always drew), a seed derived from (seed, rank) on the others."""
    if rank == 0:
        return seed
    from robust_xlt.training.rng import derive_seed

    return derive_seed(seed, rank, PROCESS_STREAM) % 2**62


# A seed stream of its own (see training/rng.py's streams), for process seeds.
PROCESS_STREAM = 1000


PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast of the forward passes and, for fp16, gradient scaling."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ConfigError(f"unknown precision {name!r}; expected {', '.join(PRECISIONS)}")
        self.name, self.device, self.dtype = name, device, PRECISIONS[name]
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None
        if self.scaler is not None:
            # The scaler makes its scale tensor on the first scale() call; unscale_ needs it.
            self.scaler.scale(torch.ones((), device=device))

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            yield

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss`` unchanged, whose gradients come out multiplied by the fp16 scale (so
        every backward pass of every method is scaled, and logged values are not)."""
        if self.scaler is None:
            return loss
        return _ScaleGradient.apply(loss, float(self.scaler.get_scale()))  # type: ignore[no-any-return]

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step; under fp16 skipped when a gradient overflowed, and the scale updated."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state(self) -> dict[str, Any]:
        return {} if self.scaler is None else dict(self.scaler.state_dict())

    def load_state(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, loss: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.scale = scale
        return loss.view_as(loss)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad * ctx.scale, None
