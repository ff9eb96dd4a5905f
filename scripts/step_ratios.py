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

Example, on the shared data (XNLI English rows 0-1244 as training data, the OMW
English and Swahili and MUSE en-de, en-zh dictionaries), e5-small, XTREME's batch 32
and length 128; --data fills in exactly these flags:

    python scripts/step_ratios.py --task xnli --data ../shared/data --steps 6 --warmup-steps 1

    python scripts/step_ratios.py --task xnli --train-fraction 0.5 \\
        --eval-data '/tmp/xlt-data/xnli/dev-{lang}.tsv' --eval-langs de,sw,zh \\
        --lexicon /tmp/xlt-data/lexicons/omw/wikt/wn-wikt-eng.tab,/tmp/xlt-data/lexicons/omw/wikt/wn-wikt-swa.tab,/tmp/xlt-data/lexicons/muse/en-de.txt,/tmp/xlt-data/lexicons/muse/en-zh.txt \\
        --steps 6 --warmup-steps 1 --json /tmp/step_ratios.json

--data DIR is the shared data: the folder of its .tar.xz archives (../shared/data; the
archives a task needs are unpacked into a temporary folder) or where they are unpacked
(xnli/, tydiqa-goldp/, lexicons/). For --task xnli and qa it sets the data flags the
TOML file and the command line leave unset: xnli as above; qa trains on 80% of the
TyDiQA-GoldP English passages and evaluates ko and sw. The lexicon is the OMW English
wordnet (rs-da's synonyms) plus, per evaluated language, MUSE en-LANG or else its OMW
wordnet (codeswitch's translations).

With no data flags it measures on the smoke sample (short sentences: the fractions are
then not representative). Any `robust-xlt train` flag is accepted and applies to every
method (e.g. --adv-steps 3, --max-length 256, --task qa ...).

The loop leaves each run's first step (warm-up) out of its s/step; --warmup-steps
drops that many more from the front. The first run in a process is slower still after
its first step (e5-small, 1 thread, loaded machine: standard 7.0 s/step first, 3.9 s
second), which would inflate the standard baseline; an untimed warm-up run of the first
method, 2 steps, goes first (--no-warmup-run leaves it out).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from robust_xlt import normalize_lang
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
    "adv-sub": {"method": ("adv-sub",)},
    "adv-sub+linear": {"method": ("adv-sub",), "curriculum": "linear"},
}


# --data: per task, (archive folder, config values with {data} for the unpacked folder).
DATA_DEFAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "xnli": ("xnli", {"eval_data": "{data}/xnli/dev-{lang}.tsv", "train_fraction": 0.5, "eval_langs": ("de", "sw", "zh")}),
    "qa": (
        "tydiqa-goldp",
        {
            "train_data": "{data}/tydiqa-goldp/tydiqa.goldp.en.train.json",
            "train_fraction": 0.8,
            "eval_data": "{data}/tydiqa-goldp/tydiqa.goldp.{lang}.train.json",
            "eval_langs": ("ko", "sw"),
        },
    ),
}


def unpacked(data: Path, name: str, scratch: Path) -> Path:
    """The folder holding ``name/`` of the shared data: ``data`` itself when it is
    unpacked there, else ``scratch`` with ``data/name.tar.xz`` unpacked into it."""
    if (data / name).is_dir():
        return data
    archive = data / f"{name}.tar.xz"
    if not archive.is_file():
        raise SystemExit(f"--data {data}: neither {data / name}/ nor {archive} exists")
    if not (scratch / name).is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
    return scratch


def lexicon_files(lexicons: Path, langs: tuple[str, ...]) -> tuple[str, ...]:
    """OMW English, then per language other than English MUSE en-LANG, else its OMW wordnet."""
    wordnets: dict[str, Path] = {}
    for path in sorted((lexicons / "omw" / "wikt").glob("wn-wikt-*.tab")):
        try:
            wordnets.setdefault(normalize_lang(path.stem.removeprefix("wn-wikt-")), path)
        except ValueError:
            continue  # a language robust-xlt does not know
    chosen = [wordnets["en"]] if "en" in wordnets else []
    for lang in langs:
        if lang == "en":
            continue
        muse = lexicons / "muse" / f"en-{lang}.txt"
        if muse.is_file():
            chosen.append(muse)
        elif lang in wordnets:
            chosen.append(wordnets[lang])
    return tuple(str(p) for p in chosen)


def data_defaults(task: str, data: Path, set_already: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """The config values --data fills in for ``task``, leaving out those already set."""
    if task not in DATA_DEFAULTS:
        raise SystemExit(f"--data has defaults for --task {' and '.join(DATA_DEFAULTS)}; for {task} give the data flags")
    archive, template = DATA_DEFAULTS[task]
    root = unpacked(data, archive, scratch)
    values: dict[str, Any] = {
        k: v.replace("{data}", str(root)) if isinstance(v, str) else v for k, v in template.items()
    }
    langs = tuple(set_already.get("eval_langs") or values["eval_langs"])
    values["lexicon"] = lexicon_files(unpacked(data, "lexicons", scratch) / "lexicons", langs)
    return {k: v for k, v in values.items() if k not in set_already}


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
    # The loop reports no s/step for a run's first step (its warm-up).
    timed = [r for r in records if r["event"] == "train" and r["step"] > warmup and r["s_per_step"] is not None]
    if not timed:
        raise SystemExit(f"{name}: no timed steps; give --steps 1 or more")
    seconds = [r["s_per_step"] for r in timed]
    aug = sum(r["aug_fraction"] * r["s_per_step"] for r in timed) / sum(seconds)
    return {"s_per_step": statistics.median(seconds), "aug_fraction": aug, "steps": len(seconds)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps per method (steps)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per method (steps)")
    parser.add_argument("--repeats", type=int, default=1, help="times to run the whole method list")
    parser.add_argument(
        "--warmup-run",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the first method untimed for 2 steps before measuring [default: on]",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the measurements here")
    parser.add_argument("--config", metavar="FILE.toml", help="TOML config for every method")
    parser.add_argument(
        "--data",
        metavar="DIR",
        type=Path,
        help="the shared data (archives or unpacked, e.g. ../shared/data or $ROBUST_XLT_DATA): fills in the "
        "data, language and lexicon flags left unset, for --task xnli and qa (see above)",
    )
    add_config_flags(parser)
    args = parser.parse_args(argv)
    configure_logging(verbose=False, quiet=True)
    names = list(dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip()))
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
        if args.data is not None:
            scratch = Path(tmp) / "data"
            base.update(data_defaults(base.get("task", "xnli"), args.data.expanduser(), base, scratch))
        config = build_config(base).resolved()
        print(
            (f"--data {args.data}: " if args.data is not None else "")
            + f"train {config.train_data or config.eval_data} (fraction {config.train_fraction}), "
            f"eval {config.eval_data} ({','.join(config.eval_langs or ())}), "
            f"lexicon {','.join(config.lexicon) or 'the smoke sample'}",
            file=sys.stderr,
        )
        if args.warmup_run:
            measure(base, names[0], 0, 2, Path(tmp) / "warmup")
            print(f"warm-up run of {names[0]} done (untimed)", file=sys.stderr)
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
    timed = min(r["steps"] for rs in runs.values() for r in rs)
    print(f"\n{config.task}, {config.model}, batch {config.batch_size}, max length {config.max_length}, "
          f"{config.threads or 'all'} thread(s), {timed} timed steps x {args.repeats}\n")
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
