"""Where a CPU training step's time goes, with and without frozen word embeddings:
forward, backward, and gradient clipping + the fused AdamW update, on real MultiNLI
batches of 32 with e5-small (two fresh models each way, alternating; the first two
steps of each are left out as warm-up).

    python scripts/step_breakdown.py /tmp/xlt-data/english-train/mnli/train-10k.tsv
"""

from __future__ import annotations

import sys
import time

import torch

from robust_xlt.models import resolve_model
from robust_xlt.tasks import InputSettings, get_task, trim_padding
from robust_xlt.training import TrainConfig
from robust_xlt.training.loop import _optimizer


def main(path: str, threads: int = 2) -> None:
    torch.set_num_threads(threads)
    task = get_task("xnli")
    examples = task.load_file(path, "en")[:128]
    for freeze in (False, True, False, True):
        model, tokenizer = task.load_model(resolve_model("e5-small"))
        model.train()
        if freeze:
            model.get_input_embeddings().weight.requires_grad_(False)
        optimizer = _optimizer(model, TrainConfig(task="xnli", freeze_embeddings=freeze).resolved(), torch.device("cpu"))
        times = []
        for i in range(6):
            batch = trim_padding(task.train_batch(tokenizer, examples[(i % 4) * 32 : (i % 4) * 32 + 32], InputSettings(max_length=128)))
            t0 = time.perf_counter()
            out = model(**{k: v for k, v in batch.items() if k != "labels"})
            loss = task.loss(out, batch)
            t1 = time.perf_counter()
            loss.backward()
            t2 = time.perf_counter()
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t3 = time.perf_counter()
            if i >= 2:
                times.append((t1 - t0, t2 - t1, t3 - t2))
        f, b, o = (sum(t[k] for t in times) / len(times) for k in range(3))
        print(f"frozen={freeze}: forward {f:.2f} s, backward {b:.2f} s, clip + AdamW {o:.2f} s, step {f + b + o:.2f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
