"""The one exception the data layer raises for bad task data."""

from __future__ import annotations

from os import PathLike


class DataError(ValueError):
    """Task data that cannot be read as the format it claims to be.

    The message names the file, the place in it (``line 12`` or a JSON path such as
    ``data[3].paragraphs[0].qas[5]``) and what is wrong, so a user can open the file
    and fix it. The same three parts stay available as attributes for callers that
    want to report them differently.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | PathLike[str] | None = None,
        where: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.where = where
        parts = [p for p in (self.path, where) if p]
        super().__init__(": ".join([*parts, problem]))


def require_lang(lang: object) -> None:
    """Every example carries its language, so a loader refuses to guess one."""
    if not isinstance(lang, str) or not lang.strip():
        raise ValueError(f"lang must be a non-empty language code such as 'de', got {lang!r}")
