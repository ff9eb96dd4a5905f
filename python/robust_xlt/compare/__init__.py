"""Comparing methods: a grid of training runs (`robust-xlt compare`) and the report
of any set of runs (`robust-xlt report`), with the statistics that tell an effect from
seed and example noise (:mod:`robust_xlt.compare.stats`)."""

from robust_xlt.compare.grid import Cell, Grid, GridError, load_grid
from robust_xlt.compare.report import build_report
from robust_xlt.compare.runner import GridOutcome, cell_status, run_cell, run_grid
from robust_xlt.compare.runs import ReportError

__all__ = ["Cell", "Grid", "GridError", "GridOutcome", "ReportError", "build_report", "cell_status", "load_grid", "run_cell", "run_grid"]
