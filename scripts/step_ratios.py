"""Measure what each training method costs per step, relative to standard fine-tuning,
and how much of a step the text augmentation (rs-da, codeswitch) takes.

Each method runs the real training loop (`robust_xlt.training.train`) for
--warmup-steps + --steps optimizer steps with one log line per step; the per-step wall
times and augmentation fractions it writes to metrics.jsonl are read back, the warm-up
steps dropped. A step is everything the loop does for it: augmentation, tokenisation,
forward/backward passes, clipping and the optimizer update.

Reports, per method: median s/step, the ratio over standard, and the augmentation
fraction (time in the Rust perturbation calls over step time; the goal is <= 3% on
e5-small). Methods run in turn, --repeats times, so a machine whose load drifts shows
it in the spread.

Example, on the shared data (XNLI English rows 0-1244, the OMW English and MUSE
dictionaries), e5-small, XTREME's batch 32 and length 128:

    mkdir -p /tmp/xlt-data && for f in ../shared/data/*.tar.xz; do tar -xJf "$f" -C /tmp/xlt-data; done
    python scripts/step_ratios.py --task xnli --train-fraction 0.5 \\
        --eval-data '/tmp/xlt-data/xnli/dev-{lang}.tsv' --eval-langs de,sw,zh \\
        --lexicon /tmp/xlt-data/lexicons/omw/wikt/wn-wikt-eng.tab,/tmp/xlt-data/lexicons/omw/wikt/wn-wikt-swa.tab,/tmp/xlt-data/lexicons/muse/en-de.txt,/tmp/xlt-data/lexicons/muse/en-zh.txt \\
        --steps 10 --json /tmp/step_ratios.json

With no data flags it measures on the smoke sample (short sentences: the fractions are
then not representative). Any `robust-xlt train` flag is accepted and applies to every
method (e.g. --adv-steps 3, --max-length 256, --task qa ...).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from robust_xlt.cli import add_config_flags, config_layers, configure_logging
from robust_xlt.training import build_config, train

# Name -> config overrides. adv runs both variants at the config's K.
VARIANTS: dict[str, dict[str, Any]] = {
    "standard": {"method": ("standard",)},
    "rs-da": {"method": ("rs-da",)},
    "rs-rp": {"method": ("rs-rp",)},
    "adv-pgd": {"method": ("adv",), "adv_variant": "pgd"},
    "adv-freelb": {"method": ("adv",), "adv_variant": "freelb"},
    "codeswitch": {"method": ("codeswitch",)},
}


def measure(base: dict[str, Any], name: str, warmup: int, steps: int, workdir: Path) -> dict[str, float]:
    out = workdir / name
    overrides = {
        **VARIANTS[name],
        "max_steps": warmup + steps,
        "eval_every": warmup + steps,  # one evaluation, after the timed steps
        "log_every": 1,
        "max_eval_examples": base.get("max_eval_examples") or 8,
        "output_dir": str(out),
    }
    train(build_config(base, overrides), overwrite=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in records if r["event"] == "train" and r["step"] > warmup]
    seconds = [r["s_per_step"] for r in timed]
    aug = sum(r["aug_fraction"] * r["s_per_step"] for r in timed) / sum(seconds)
    return {"s_per_step": statistics.median(seconds), "aug_fraction": aug, "steps": len(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per method (steps)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method (steps)")
    parser.add_argument("--repeats", type=int, default=1, help="times to run the whole method list")
    parser.add_argument("--json", metavar="FILE", help="also write the measurements here")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML config for every method")
    add_config_flags(parser)
    args = parser.parse_args(argv)
    configure_logging(verbose=False, quiet=True)
    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in VARIANTS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if "standard" not in names:
        names.insert(0, "standard")
    toml, flags = config_layers(args)
    base = {**toml, **flags}
    base.setdefault("model", "e5-small")

    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory(prefix="step-ratios-") as tmp:
        for repeat in range(args.repeats):
            for name in names:
                result = measure(base, name, args.warmup_steps, args.steps, Path(tmp))
                runs[name].append(result)
                print(
                    f"[{repeat + 1}/{args.repeats}] {name}: {result['s_per_step']:.3f} s/step, "
                    f"augmentation {100 * result['aug_fraction']:.2f}%",
                    file=sys.stderr,
                )

    standard = statistics.median(r["s_per_step"] for r in runs["standard"])
    config = build_config(base).resolved()
    print(f"\n{config.task}, {config.model}, batch {config.batch_size}, max length {config.max_length}, "
          f"{args.steps} timed steps x {args.repeats}\n")
    print("| method | s/step | ratio over standard | augmentation / step |")
    print("|---|---:|---:|---:|")
    summary = {}
    for name in names:
        per_step = statistics.median(r["s_per_step"] for r in runs[name])
        aug = statistics.median(r["aug_fraction"] for r in runs[name])
        summary[name] = {"s_per_step": per_step, "ratio": per_step / standard, "aug_fraction": aug, "runs": runs[name]}
        aug_cell = f"{100 * aug:.2f}%" if name in ("rs-da", "codeswitch") else "-"
        print(f"| {name} | {per_step:.3f} | {per_step / standard:.2f}x | {aug_cell} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": config.to_dict(), "methods": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
