"""A comparison grid: tasks x methods x seeds, read from TOML, each cell a training
run plus, where configured, its attack and its generalized evaluation.

The file::

    name = "quick"                  # default: the file's name
    output_dir = "compare-quick"    # default: compare-<name> (-scale<X> with --scale)
    seeds = [0, 1, 2]               # every task's, unless it sets its own
    baseline = "standard"           # the method label every other is compared with
    data = "/tmp/xlt-data"          # what {data} in any path stands for (--data wins)

    [settings]                      # shared training settings: any `train` key,
    model = "e5-small"              # flat or in train's tables ([settings.optimization])

    [tasks.xnli]                    # one table per task; the name labels its cells
    task = "xnli"                   # default: the table's name
    seeds = [0, 1]
    [tasks.xnli.settings]           # this task's settings (over the shared ones)
    eval_data = "{data}/xnli/dev-{lang}.tsv"
    [tasks.xnli.attack]             # optional: attack each cell's selected model
    budgets = [0, 0.1, 0.2]         # shares of an example's words
    langs = ["en", "sw"]            # default: the run's languages
    rows = 200                      # the first N rows of each language (same ids)
    lexicon = ["{data}/lexicons/omw/wikt/wn-wikt-eng.tab"]  # default: the run's
    seeds = [0, 1]                  # default: every seed of the cell
    mode = "mixed"                  # and any other AttackConfig field
    [tasks.xnli.generalized]        # optional: the generalized matrix (parallel data)
    langs = ["en", "de", "sw"]
    rows = 100
    [[tasks.xnli.methods]]          # one entry per method setting
    method = "standard"
    [[tasks.xnli.methods]]
    method = ["adv-sub"]
    curriculum = "linear"           # label: adv-sub+linear
    [[tasks.xnli.methods]]
    name = "standard-full"          # a label of its own: needed when two entries share methods
    method = "standard"
    settings = { freeze_embeddings = false }

Cells run task by task, and within a task seed by seed (every method's first seed,
then every method's second), so a grid stopped part-way compares methods on the same
seeds.

Precedence of a cell's settings: train's defaults < [settings] < the task's settings
< the method's settings < what the grid fixes per cell (method, curriculum, seed,
output_dir). A cell's run goes to ``<output_dir>/runs/<task>-<label>-seed<N>``, its attack to
``attacks/`` and its generalized evaluation to ``generalized/`` under the same name.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robust_xlt.adversary import AttackConfig
from robust_xlt.training.config import FIELD_SECTION, FIELDS, SECTIONS, ConfigError, TrainConfig, coerce, load_toml
from robust_xlt.training.parallel import launched_per_machine

# Settings --scale multiplies: how much a run trains, and how often it is evaluated
# (the same number of dev evaluations); evaluation rows stay, so scores stay comparable.
SCALED: tuple[str, ...] = ("max_train_examples", "max_steps", "eval_every")
# Settings a grid fixes per cell; a settings table may not set them.
PER_CELL: frozenset[str] = frozenset({"method", "curriculum", "seed", "output_dir"})
ATTACK_KEYS: frozenset[str] = frozenset({"budgets", "langs", "rows", "lexicon", "seeds", "samples"})
ATTACK_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(AttackConfig)) - {"budget"}
GENERALIZED_KEYS: frozenset[str] = frozenset({"langs", "rows", "seeds"})
TOP_KEYS: frozenset[str] = frozenset({"name", "output_dir", "seeds", "baseline", "data", "settings", "tasks"})
TASK_KEYS: frozenset[str] = frozenset({"task", "seeds", "settings", "attack", "generalized", "methods"})
METHOD_KEYS: frozenset[str] = frozenset({"name", "method", "curriculum", "settings", "seeds"})


class GridError(ConfigError):
    """A grid file that cannot work; the message names the file and the entry."""


@dataclass(frozen=True)
class AttackPlan:
    budgets: tuple[float, ...]
    langs: tuple[str, ...] | None
    rows: int | None
    lexicon: tuple[str, ...]
    seeds: tuple[int, ...] | None
    samples: int
    config: AttackConfig


@dataclass(frozen=True)
class GeneralizedPlan:
    langs: tuple[str, ...] | None
    rows: int | None
    seeds: tuple[int, ...] | None


@dataclass(frozen=True)
class Cell:
    name: str  # <task>-<label>-seed<N>
    task: str  # the task table's name
    label: str
    seed: int
    config: TrainConfig
    attack: AttackPlan | None
    generalized: GeneralizedPlan | None

    def run_dir(self, root: Path) -> Path:
        return root / "runs" / self.name

    def attack_dir(self, root: Path) -> Path | None:
        return root / "attacks" / self.name if self.attack is not None else None

    def generalized_dir(self, root: Path) -> Path | None:
        return root / "generalized" / self.name if self.generalized is not None else None


@dataclass(frozen=True)
class Grid:
    path: Path
    name: str
    output_dir: Path
    baseline: str
    scale: float
    cells: tuple[Cell, ...]

    def manifest(self) -> dict[str, Any]:
        """What grid.json holds: enough for `robust-xlt report` to name every cell."""
        root = self.output_dir
        return {
            "grid": str(self.path),
            "name": self.name,
            "baseline": self.baseline,
            "scale": self.scale,
            "cells": [
                {
                    "name": c.name,
                    "task": c.task,
                    "label": c.label,
                    "seed": c.seed,
                    "run": str(c.run_dir(root).relative_to(root)),
                    "attack": str(d.relative_to(root)) if (d := c.attack_dir(root)) is not None else None,
                    "generalized": str(d.relative_to(root)) if (d := c.generalized_dir(root)) is not None else None,
                }
                for c in self.cells
            ],
        }


def load_grid(
    path: str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    data: str | None = None,
    scale: float = 1.0,
    jobs: int = 1,
) -> Grid:
    """The grid of ``path`` with every cell's config built and checked (a bad cell
    fails here, before any training). ``jobs`` processes split the cores between them
    unless the grid sets ``threads``; a cell that already started keeps the thread count
    it started with, which an exact resume needs."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"grid file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{p}: not valid TOML: {exc}") from None
    if not scale > 0:
        raise GridError(f"--scale must be a positive number, got {scale}")
    _known(doc, TOP_KEYS, f"{p}")
    name = str(doc.get("name") or p.stem.removeprefix("grid-"))
    root = data if data is not None else doc.get("data")
    default_out = f"compare-{name}" + (f"-scale{scale:g}" if scale != 1 else "")
    out = Path(output_dir if output_dir is not None else doc.get("output_dir", default_out)).expanduser()
    shared = _settings(doc.get("settings", {}), f"{p}: [settings]", root)
    top_seeds = _seeds(doc.get("seeds", [0]), f"{p}: seeds")
    tasks = doc.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        raise GridError(f"{p}: no [tasks.NAME] table; a grid needs at least one task")
    cores = _available_cores()
    cells: list[Cell] = []
    for task_name, table in tasks.items():
        task_start = len(cells)
        where = f"{p}: [tasks.{task_name}]"
        if not isinstance(table, dict):
            raise GridError(f"{where} must be a table")
        _known(table, TASK_KEYS, where)
        task_settings = _settings(table.get("settings", {}), f"{where}.settings", root)
        task = table.get("task", task_settings.get("task", task_name))
        seeds = _seeds(table.get("seeds", top_seeds), f"{where} seeds")
        attack = _attack(table["attack"], f"{where}.attack", root) if "attack" in table else None
        generalized = _generalized(table["generalized"], f"{where}.generalized") if "generalized" in table else None
        methods = table.get("methods")
        if not isinstance(methods, list) or not methods:
            raise GridError(f"{where}: no [[tasks.{task_name}.methods]] entries")
        labels: set[str] = set()
        for number, entry in enumerate(methods, start=1):
            mwhere = f"{where} methods entry {number}"
            if not isinstance(entry, dict) or "method" not in entry:
                raise GridError(f"{mwhere}: give method = \"NAME\" or a list of methods")
            _known(entry, METHOD_KEYS, mwhere)
            own = _settings(entry.get("settings", {}), f"{mwhere} settings", root)
            fixed = {
                "method": coerce("method", entry["method"], mwhere),
                "curriculum": coerce("curriculum", entry.get("curriculum", "none"), mwhere),
            }
            values = {**shared, **task_settings, **own, "task": task, **fixed}
            values = _scaled(values, scale)
            try:
                label = str(entry.get("name") or TrainConfig(**values).run_name)
            except ConfigError as exc:
                raise GridError(f"{mwhere}: {exc}") from None
            if label in labels:
                raise GridError(f"{mwhere}: label {label!r} is used twice in [tasks.{task_name}]; give each entry a distinct name")
            labels.add(label)
            for seed in _seeds(entry.get("seeds", seeds), f"{mwhere} seeds"):
                cell_name = f"{task_name}-{label}-seed{seed}"
                run_dir = out / "runs" / cell_name
                cell_values = {**values, "seed": seed, "output_dir": str(run_dir)}
                if "threads" not in cell_values:
                    cell_values["threads"] = _started_threads(run_dir) or max(1, cores // max(1, jobs * launched_per_machine()))
                try:
                    config = TrainConfig(**cell_values)
                except ConfigError as exc:
                    raise GridError(f"{mwhere} (seed {seed}): {exc}") from None
                if attack is not None and not attack.lexicon and not config.lexicon and not config.uses_smoke_sample:
                    raise GridError(f"{where}.attack: give lexicon = [FILES] (the runs of {label} have no lexicon to reuse)")
                cells.append(
                    Cell(
                        cell_name,
                        task_name,
                        label,
                        seed,
                        config,
                        attack if attack is not None and (attack.seeds is None or seed in attack.seeds) else None,
                        generalized if generalized is not None and (generalized.seeds is None or seed in generalized.seeds) else None,
                    )
                )
        # Seed by seed within a task (stable: methods keep their order), so a grid cut
        # short or run in pieces holds the same seeds for every method: paired already.
        cells[task_start:] = sorted(cells[task_start:], key=lambda cell: cell.seed)
    baseline = str(doc.get("baseline", "standard"))
    return Grid(p, name, out, baseline, scale, tuple(cells))


def _known(table: dict[str, Any], keys: frozenset[str], where: str) -> None:
    unknown = [k for k in table if k not in keys]
    if unknown:
        raise GridError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(keys))}")


def _settings(table: Any, where: str, data: str | None) -> dict[str, Any]:
    """Training settings of a grid table, flat or in train's tables, as load_toml
    reads a --config file; ``{data}`` in strings is replaced by the data root."""
    if not isinstance(table, dict):
        raise GridError(f"{where} must be a table of training settings")
    values: dict[str, Any] = {}

    def put(key: str, value: Any, origin: str) -> None:
        name = key.replace("-", "_")
        if name in PER_CELL:
            raise GridError(f"{origin}: {name} is set per cell by the grid (methods entries, seeds), not in settings")
        if name in values:
            raise GridError(f"{origin}: {name} is set twice")
        try:
            values[name] = coerce(name, _with_data(value, data, origin), origin)
        except ConfigError as exc:
            raise GridError(str(exc)) from None

    for key, value in table.items():
        if isinstance(value, dict):
            section = key.replace("-", "_")
            if section not in SECTIONS:
                raise GridError(f"{where}: unknown table {key!r}; tables are {', '.join(SECTIONS)}")
            for inner, inner_value in value.items():
                name = inner.replace("-", "_")
                if name in FIELDS and FIELD_SECTION[name] != section:
                    raise GridError(f"{where}.{key}: {name} belongs in {FIELD_SECTION[name]}, not {section}")
                put(inner, inner_value, f"{where}.{key}.{inner}")
        else:
            put(key, value, f"{where} {key}")
    return values


def _with_data(value: Any, data: str | None, origin: str) -> Any:
    if isinstance(value, list):
        return [_with_data(v, data, origin) for v in value]
    if isinstance(value, str) and "{data}" in value:
        if data is None:
            raise GridError(f"{origin}: {value!r} uses {{data}}; give --data DIR (the unpacked ../shared/data archives) or data = \"DIR\" in the grid")
        return value.replace("{data}", str(Path(data).expanduser()))
    return value


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        raise GridError(f"{where}: give a list of seeds (integers >= 0), got {value!r}")
    if len(set(value)) != len(value):
        raise GridError(f"{where}: a seed is listed twice: {value}")
    return tuple(value)


def _scaled(values: dict[str, Any], scale: float) -> dict[str, Any]:
    if scale == 1:
        return values
    return {k: (max(1, round(v * scale)) if k in SCALED and v is not None else v) for k, v in values.items()}


def _attack(table: Any, where: str, data: str | None) -> AttackPlan:
    if not isinstance(table, dict):
        raise GridError(f"{where} must be a table")
    _known(table, ATTACK_KEYS | ATTACK_FIELDS, where)
    budgets = table.get("budgets", [0, 0.1, 0.2])
    if not isinstance(budgets, list) or not budgets or not all(isinstance(b, (int, float)) and 0 <= b <= 1 for b in budgets):
        raise GridError(f"{where}: budgets must be a list of shares of words in [0, 1], got {budgets!r}")
    fields = {k: v for k, v in table.items() if k in ATTACK_FIELDS}
    if isinstance(fields.get("target_langs"), list):
        fields["target_langs"] = tuple(fields["target_langs"])
    try:
        config = AttackConfig(**fields)
    except (TypeError, ValueError) as exc:
        raise GridError(f"{where}: {exc}") from None
    return AttackPlan(
        budgets=tuple(float(b) for b in dict.fromkeys(budgets)),
        langs=_langs(table.get("langs"), where),
        rows=_rows(table.get("rows"), where),
        lexicon=tuple(_with_data(list(table.get("lexicon", [])), data, f"{where} lexicon")),
        seeds=_seeds(table["seeds"], f"{where} seeds") if "seeds" in table else None,
        samples=int(table.get("samples", 3)),
        config=config,
    )


def _generalized(table: Any, where: str) -> GeneralizedPlan:
    if not isinstance(table, dict):
        raise GridError(f"{where} must be a table (langs, rows, seeds)")
    _known(table, GENERALIZED_KEYS, where)
    return GeneralizedPlan(
        _langs(table.get("langs"), where),
        _rows(table.get("rows"), where),
        _seeds(table["seeds"], f"{where} seeds") if "seeds" in table else None,
    )


def _langs(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    try:
        return coerce("eval_langs", value, f"{where} langs")
    except ConfigError as exc:
        raise GridError(str(exc)) from None


def _rows(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GridError(f"{where}: rows must be a positive integer (the first N rows of each language), got {value!r}")
    return value


def _started_threads(run_dir: Path) -> int | None:
    """The thread count a cell that already started runs with (its saved config)."""
    saved = run_dir / "config.toml"
    if not saved.exists():
        return None
    threads = load_toml(saved).get("threads")
    return int(threads) if threads is not None else None


def _available_cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
