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
# serves rs-rp's noise and the adversaries' random starts (a run uses at most one).
DATA_ORDER, SYNONYMS, CODESWITCH, EMBEDDING = range(4)


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


def capture() -> dict[str, Any]:
    """The global random states, in types ``torch.load(weights_only=True)`` accepts."""
    np_state: Any = np.random.get_state()
    state: dict[str, Any] = {
        "python": _listify(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np.asarray(np_state[1]).astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore(state: dict[str, Any]) -> None:
    random.setstate(_tuplify(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _listify(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_listify(v) for v in value]
    return value


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value
