"""Training-step throughput of each method on an XLM-R-base-sized encoder, against a
bare transformers training loop of the same model, as a table.

    python benches/gpu_step.py                                  # GPU: base size, bf16
    python benches/gpu_step.py --size tiny --steps 2            # CPU smoke test (seconds)
    python benches/gpu_step.py --train-data mnli.tsv --lexicon en-de.txt --precision fp32

The model is randomly initialised from a configuration (no download): ``base`` is
XLM-R base (12 layers, hidden 768, 12 heads, FFN 3072, the 250,002-piece vocabulary;
278M parameters), ``small`` is e5-small's shape (hidden 384), ``tiny`` a 2-layer,
hidden-32 model for a smoke run. The tokenizer is e5's (XLM-R's pieces), built
offline. Every method trains through `robust-xlt train` itself (`train()` with
``max_steps`` = warm-up + timed steps), so its number includes what the loop does on
the host (augmentation, the adversary's search, batching); s/step is the loop's own
median over the timed steps, evaluations and checkpoints excluded. The bare loop runs
the same batches: AutoModelForSequenceClassification with labels, backward, clipping,
fused AdamW, under the same autocast. Word embeddings are trained in every case
(``--freeze-embeddings`` freezes them for the methods, and the bare loop alike).

Data: the smoke sample's XNLI training rows and lexicon by default (tiny coverage:
text methods change few words), or ``--train-data`` (XTREME-layout XNLI/MNLI TSV) and
``--lexicon`` files for real text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TypedDict

import torch


class Shape(TypedDict):
    """An encoder size: the XLMRobertaConfig arguments it sets."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


SIZES: dict[str, Shape] = {
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536},
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
}
METHODS: dict[str, dict[str, Any]] = {
    "standard": {"method": ("standard",)},
    "rs-da": {"method": ("rs-da",)},
    "rs-rp": {"method": ("rs-rp",)},
    "adv": {"method": ("adv",)},
    "adv-freelb": {"method": ("adv",), "adv_variant": "freelb", "adv_init_mag": 0.2},
    "codeswitch": {"method": ("codeswitch",)},
    "adv-sub": {"method": ("adv-sub",)},
}


def make_model_dir(path: Path, size: str) -> Path:
    """A randomly initialised XLM-R-shaped encoder and e5's tokenizer in ``path``."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    from robust_xlt.models.tiny import build_e5_tokenizer, save_tokenizer

    tokenizer = build_e5_tokenizer()
    config = XLMRobertaConfig(
        vocab_size=tokenizer.get_vocab_size(),
        max_position_embeddings=514,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        **SIZES[size],
    )
    torch.manual_seed(0)
    XLMRobertaModel(config).save_pretrained(path)
    save_tokenizer(tokenizer, path)
    return path


def method_seconds(base: dict[str, Any], name: str, warmup: int, steps: int, workdir: Path) -> list[float]:
    """The loop's seconds per timed step of method ``name``."""
    from robust_xlt.training import build_config, train

    out = workdir / name
    overrides = {**METHODS[name], "max_steps": warmup + steps, "eval_every": warmup + steps, "log_every": 1, "output_dir": str(out)}
    train(build_config(base, overrides), overwrite=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # The loop reports no s/step for a run's first step (model and kernel warm-up).
    return [r["s_per_step"] for r in records if r["event"] == "train" and r["step"] > warmup and r["s_per_step"] is not None]


def bare_loop_seconds(model_dir: Path, base: dict[str, Any], warmup: int, steps: int, device: torch.device) -> list[float]:
    """The same batches through a plain transformers training loop."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from robust_xlt.data import PairExample
    from robust_xlt.training import build_config
    from robust_xlt.training.data import load_task_data
    from robust_xlt.training.loop import BatchOrder
    from robust_xlt.training.parallel import Precision

    c = build_config(base).resolved()
    data = load_task_data(c)
    order = BatchOrder(len(data.train), c.batch_size, c.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(c.seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3).to(device)
    if c.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=c.lr or 2e-5, fused=device.type in ("cpu", "cuda"))
    precision = Precision(c.precision, device)
    seconds = []
    for step in range(warmup + steps):
        batch = [data.train[i] for i in order.indices(step)]
        examples = [ex for ex in batch if isinstance(ex, PairExample)]
        assert len(examples) == len(batch), "the bare loop trains sentence pairs only"
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        enc = tokenizer([ex.text_a for ex in examples], [ex.text_b for ex in examples], truncation=True, max_length=c.max_length, padding="longest", return_tensors="pt").to(device)
        with precision.autocast():
            loss = model(**enc, labels=torch.tensor([ex.label for ex in examples], device=device)).loss
        precision.scaled(loss.float()).backward()
        precision.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
        precision.step(optimizer)
        optimizer.zero_grad(set_to_none=True)
        float(loss.item())  # the loop reads the loss too
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="base", help="model size (default: base, XLM-R base)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="default: bf16 on a GPU, fp32 on a CPU")
    parser.add_argument("--batch-size", type=int, default=32, help="examples a step (default 32)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens (default 128)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps a method (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--train-data", help="XTREME-layout XNLI/MNLI training TSV (default: the smoke sample)")
    parser.add_argument("--lexicon", action="append", default=[], help="lexicon file for the text methods and adv-sub (repeatable)")
    parser.add_argument("--freeze-embeddings", action="store_true", help="freeze the word embeddings (methods and bare loop)")
    parser.add_argument("--output", type=Path, help="also write the table and its numbers here (.md and .json beside it)")
    args = parser.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    precision = args.precision or ("bf16" if cuda else "fp32")
    with tempfile.TemporaryDirectory(prefix="gpu-step-") as scratch:
        work = Path(scratch)
        model_dir = make_model_dir(work / "model", args.size)
        parameters = sum(p.numel() for p in __import__("transformers").AutoModel.from_pretrained(model_dir).parameters())
        base: dict[str, Any] = {
            "task": "xnli",
            "model": str(model_dir),
            "device": str(device),
            "precision": precision,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "freeze_embeddings": args.freeze_embeddings,
            "checkpoint_interval": 1e9,  # no resume checkpoint: it is not what is measured
            "max_eval_examples": 3,
            "eval_langs": ("en",),
            "lexicon": tuple(args.lexicon),
            **({"train_data": args.train_data, "eval_data": args.train_data, "train_fraction": 0.5, "dev_fraction": 0.1} if args.train_data else {}),
        }
        bare = bare_loop_seconds(model_dir, base, args.warmup, args.steps, device)
        rows = [("bare transformers loop", bare)]
        for name in methods:
            rows.append((name, method_seconds(base, name, args.warmup, args.steps, work)))
    bare_median = statistics.median(bare)
    gpu = torch.cuda.get_device_name(0) if cuda else "CPU"
    header = (
        f"{args.size} ({parameters / 1e6:.0f}M parameters), {precision}, batch {args.batch_size} x {args.max_length} tokens, "
        f"{gpu}; median of {args.steps} steps after {args.warmup} warm-up"
    )
    lines = [header, "", "| method | s/step | examples/s | ratio to bare loop |", "|---|---:|---:|---:|"]
    table: dict[str, Any] = {"setting": header, "methods": {}}
    for name, seconds in rows:
        med = statistics.median(seconds)
        lines.append(f"| {name} | {med:.4f} | {args.batch_size / med:.1f} | {med / bare_median:.2f}x |")
        table["methods"][name] = {"s_per_step": med, "seconds": seconds, "ratio": med / bare_median}
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output is not None:
        args.output.with_suffix(".md").write_text(text, encoding="utf-8")
        args.output.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
