"""What a report reads: finished training runs, their attacks and generalized
evaluations, grouped into (task, method label, seed).

Inputs are folders of any of these kinds:

* a training run (``results.json`` beside ``config.toml``);
* an attack (``attack.json``, from ``robust-xlt attack``) or an evaluation with the
  generalized matrix (``results.json`` with ``"command": "eval"``): each belongs to the
  run whose ``best/`` folder it evaluated (its ``model`` field);
* a ``robust-xlt compare`` output folder (``grid.json``, ``runs/``, ``attacks/``,
  ``generalized/``), whose manifest names each cell's task and label.

A bare run folder named ``<task>-<label>-seed<N>`` (as compare and
scripts/real_runs.sh name them) is grouped under that task and label, so that two
settings of one method (``standard`` and ``standard-full``) stay apart; another name
falls back to the run's task and methods (``adv-sub+linear``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from robust_xlt.evaluation import ATTACK_JSON, attack_records_path, read_predictions, read_records
from robust_xlt.training.config import TrainConfig, build_config, load_toml

GRID_MANIFEST = "grid.json"
RESULTS = "results.json"
CONFIG = "config.toml"
METRICS = "metrics.jsonl"


class ReportError(ValueError):
    """An input the report cannot use; the message names the folder."""


@dataclass
class Run:
    path: Path
    task_label: str
    label: str
    seed: int
    results: dict[str, Any]
    attack: dict[str, Any] | None = None
    generalized: dict[str, Any] | None = None
    attack_dir: Path | None = None  # where attack.json's per-example records are
    _scores: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict, repr=False)
    _attack_records: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    @cached_property
    def config(self) -> TrainConfig:
        return build_config(load_toml(self.path / CONFIG))

    @cached_property
    def events(self) -> list[dict[str, Any]]:
        path = self.path / METRICS
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line a kill cut short
        return out

    def scores(self, lang: str, metric: str) -> dict[str, float]:
        """Example id -> the example's score in points, from predictions-{lang}.jsonl."""
        key = (lang, metric)
        if key not in self._scores:
            try:
                records = read_predictions(self.path, lang)
            except FileNotFoundError:
                raise ReportError(f"{self.path}: no predictions-{lang}.jsonl; paired statistics need the run's predictions") from None
            self._scores[key] = {str(r["id"]): 100.0 * float(r["correct"] if metric == "accuracy" else r[metric]) for r in records}
        return self._scores[key]

    def attack_scores(self, lang: str, metric: str, budget: float) -> dict[str, float]:
        """Example id -> the example's score in points after the attack at ``budget``,
        from the attack's attack-{lang}.jsonl (its ``after`` record)."""
        if self.attack_dir is None:
            raise ReportError(f"{self.path}: its attack's folder is unknown; paired statistics under attack need its records")
        if lang not in self._attack_records:
            path = attack_records_path(self.attack_dir, lang)
            if not path.exists():
                raise ReportError(f"{path}: missing; paired statistics under attack need the attack's per-example records")
            try:
                raw = read_records(path)
            except ValueError as exc:
                raise ReportError(str(exc)) from None
            records = []
            for number, record in enumerate(raw, start=1):  # one record a line
                try:
                    records.append({"id": str(record["id"]), "budget": float(record["budget"]), "after": dict(record["after"])})
                except (ValueError, KeyError, TypeError) as exc:
                    raise ReportError(f"{path}:{number}: not an attack record with id, budget and after ({exc})") from None
            self._attack_records[lang] = records
        out = {}
        for r in self._attack_records[lang]:
            if r["budget"] == budget:
                after = r["after"]
                out[r["id"]] = 100.0 * float(after["correct"] if metric == "accuracy" else after[metric])
        return out

    def median_step_seconds(self) -> float | None:
        """Median steady step time (s/step of the train events: warm-up, evaluations and
        checkpoints excluded)."""
        values = [e["s_per_step"] for e in self.events if e.get("event") == "train" and e.get("s_per_step") is not None]
        if not values:
            return None
        values.sort()
        mid = len(values) // 2
        return float(values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2)

    def dev_languages(self) -> list[str]:
        return sorted({str(e.get("lang")) for e in self.events if e.get("event") == "dev"})

    def train_seconds(self) -> float | None:
        final = [e for e in self.events if e.get("event") == "final"]
        return float(final[-1]["train_seconds"]) if final and final[-1].get("train_seconds") is not None else None


def load_runs(inputs: list[Path]) -> tuple[list[Run], list[str]]:
    """The finished runs of ``inputs`` (in the order given; a grid's in its cells'
    order) with their attacks and generalized evaluations attached, and notes on what
    was left out (unfinished cells of a grid)."""
    runs: dict[Path, Run] = {}
    attacks: list[tuple[Path, dict[str, Any]]] = []
    evals: list[tuple[Path, dict[str, Any]]] = []
    notes: list[str] = []
    for given in inputs:
        folder = Path(given)
        if not folder.is_dir():
            raise FileNotFoundError(f"report input not found (or not a folder): {folder}")
        if (folder / GRID_MANIFEST).exists():
            _load_grid(folder, runs, notes)
        elif _kind(folder) is not None:
            _collect(folder, runs, attacks, evals)
        elif (folder / "runs").is_dir():  # a compare folder whose manifest is gone
            for sub in ("runs", "attacks", "generalized"):
                for child in sorted((folder / sub).iterdir()) if (folder / sub).is_dir() else []:
                    if _kind(child) is not None:
                        _collect(child, runs, attacks, evals)
        else:
            raise ReportError(
                f"{folder}: not a finished training run (results.json and config.toml), an attack (attack.json), "
                "an evaluation with --generalized, or a robust-xlt compare output folder"
            )
    for folder, result in attacks:
        _attach(runs, folder, result, "attack", result)
    for folder, result in evals:
        if "generalized" in result:
            _attach(runs, folder, result, "generalized", result["generalized"])
    return list(runs.values()), notes


def _collect(folder: Path, runs: dict[Path, Run], attacks: list[Any], evals: list[Any]) -> None:
    kind = _kind(folder)
    if kind == "run":
        runs[folder.resolve()] = _bare_run(folder)
    elif kind == "attack":
        attacks.append((folder, _read_json(folder / ATTACK_JSON)))
    elif kind == "eval":
        evals.append((folder, _read_json(folder / RESULTS)))


def _kind(folder: Path) -> str | None:
    if (folder / ATTACK_JSON).exists():
        return "attack"
    if (folder / RESULTS).exists():
        result = _read_json(folder / RESULTS)
        if result.get("command") == "eval":
            return "eval"
        if (folder / CONFIG).exists():
            return "run"
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc})") from None


def _bare_run(folder: Path) -> Run:
    results = _read_json(folder / RESULTS)
    seed = int(results["seed"])
    task = str(results["task"])
    stem = folder.name.removesuffix(f"-seed{seed}")
    run_name = build_config(load_toml(folder / CONFIG)).run_name
    if stem != folder.name and stem.startswith(f"{task}-") and len(stem) > len(task) + 1:
        task_label, label = task, stem[len(task) + 1 :]
    elif stem != folder.name and "-" in stem and stem.split("-", 1)[1].startswith(run_name.split("+")[0]):
        task_label, label = stem.split("-", 1)
    else:
        task_label, label = task, run_name
    return Run(folder, task_label, label, seed, results)


def _load_grid(folder: Path, runs: dict[Path, Run], notes: list[str]) -> None:
    manifest = _read_json(folder / GRID_MANIFEST)
    missing = []
    for cell in manifest["cells"]:
        run_dir = folder / cell["run"]
        if not (run_dir / RESULTS).exists():
            missing.append(cell["name"])
            continue
        run = Run(run_dir, cell["task"], cell["label"], int(cell["seed"]), _read_json(run_dir / RESULTS))
        if cell.get("attack"):
            path = folder / cell["attack"] / ATTACK_JSON
            if path.exists():
                run.attack = _read_json(path)
                run.attack_dir = path.parent
            else:
                missing.append(f"{cell['name']} (attack)")
        if cell.get("generalized"):
            path = folder / cell["generalized"] / RESULTS
            if path.exists():
                run.generalized = _read_json(path).get("generalized")
            else:
                missing.append(f"{cell['name']} (generalized)")
        runs[run_dir.resolve()] = run
    if missing:
        notes.append(f"{folder}: {len(missing)} unfinished of {len(manifest['cells'])} cells left out: {', '.join(missing)}")


def _attach(runs: dict[Path, Run], folder: Path, result: dict[str, Any], what: str, value: dict[str, Any]) -> None:
    """Give an attack or evaluation to the run whose best/ it read: by the model path,
    else by the run folder's name (the files may have moved since)."""
    model = Path(str(result.get("model", "")))
    run_dir = model.parent if model.name == "best" else model
    run = runs.get(run_dir.resolve()) if str(run_dir) else None
    if run is None:
        same_name = [r for r in runs.values() if r.name == run_dir.name]
        run = same_name[0] if len(same_name) == 1 else None
    if run is None:
        raise ReportError(f"{folder}: its model {model} is none of the runs given; give the run folder too")
    if what == "attack" and run.attack is None:
        run.attack = value
        run.attack_dir = folder
    elif what == "generalized" and run.generalized is None:
        run.generalized = value


def finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
