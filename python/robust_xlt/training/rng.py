"""Seeds and random states.

Everything random in a step that the method chooses (data order, word substitutions,
embedding noise, adversarial starts) draws from a generator derived from (run seed,
epoch or step, stream), so a resumed run needs nothing but the step number to make the
same draws. Only dropout uses torch's global generator; its state, with Python's and
numpy's, goes into the resume checkpoint.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

# Streams keep the draws of different purposes independent of each other; EMBEDDING
# serves rs-rp's noise and the adversaries' random starts (a run uses at most one);
# CURRICULUM draws replayed difficulties, ADV_SUB the examples adv-sub attacks.
DATA_ORDER, SYNONYMS, CODESWITCH, EMBEDDING, CURRICULUM, ADV_SUB = range(6)


def derive_seed(seed: int, index: int, stream: int) -> int:
    """A 63-bit seed for (run seed, epoch or step, stream); stable across platforms."""
    state = np.random.SeedSequence([seed, index, stream]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def torch_generator(seed: int, index: int, stream: int) -> torch.Generator:
    """A CPU generator for one step's draws; tensors are moved to the device after, so
    CPU and GPU runs draw the same numbers."""
    return torch.Generator(device="cpu").manual_seed(derive_seed(seed, index, stream))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The global random states: Python's and numpy's as JSON values, torch's (and
    CUDA's) as tensors, for the resume checkpoint."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    state: dict[str, Any] = {
        "python": _listify(random.getstate()),
        "numpy": [kind, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)],
    }
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    return state, tensors


def restore(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    random.setstate(_tuplify(state["python"]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("cuda.")), key=lambda k: int(k[5:]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def _listify(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_listify(v) for v in value]
    return value


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value
