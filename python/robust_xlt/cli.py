"""The `robust-xlt` command line."""

from __future__ import annotations

import argparse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robust-xlt")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="fine-tune with a robust training method (coming)")
    sub.add_parser("eval", help="evaluate a saved model per language (coming)")
    sub.add_parser("model", help="prepare offline models (coming)")
    return parser


def main(argv: list[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return 0
