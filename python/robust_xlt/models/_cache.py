"""Cache folders for generated model directories: where they live, how they appear
atomically, and how a damaged one is recognised.

A folder is built in a temporary sibling and renamed into place only once complete, so
a killed build never leaves a half-written folder under the final name. A manifest
records each file's size and SHA-256; a folder whose manifest is missing, from another
format version, or disagrees with the files on disk is rebuilt.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "robust_xlt_manifest.json"
_HASH_CHUNK = 1 << 22  # 4 MiB reads: hashing 465 MB stays under a second, memory flat


def default_cache_dir() -> Path:
    """`$ROBUST_XLT_CACHE` if set, else `~/.cache/robust-xlt/models`."""
    env = os.environ.get("ROBUST_XLT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "robust-xlt" / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, kind: str, version: int) -> None:
    files = {
        p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    manifest = {"kind": kind, "format_version": version, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def manifest_problem(folder: Path, kind: str, version: int) -> str | None:
    """Why `folder` is not a complete `kind` folder of this format version, or None if it is."""
    if not folder.is_dir():
        return "missing"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        found = (manifest["kind"], manifest["format_version"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable {MANIFEST} ({exc})"
    if found != (kind, version):
        return f"manifest says {found[0]!r} format {found[1]}, expected {kind!r} format {version}"
    for name, want in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, manifest says {want['bytes']}"
        if _sha256(path) != want["sha256"]:
            return f"{name} does not match its SHA-256 in the manifest"
    return None


def ensure_folder(
    final: Path, build: Callable[[Path], object], *, kind: str, version: int, force: bool = False
) -> Path:
    """Return `final`, first building it with `build(tmp_dir)` if it is missing or damaged."""
    problem = "rebuild requested" if force else manifest_problem(final, kind, version)
    if problem is None:
        return final
    if final.exists() and not (final / MANIFEST).exists() and any(final.iterdir()):
        # Never ours (ours always carry a manifest): refuse rather than delete it.
        raise FileExistsError(
            f"{final} exists, is not empty and has no {MANIFEST}; move it or pick another folder"
        )
    if final.exists():
        (log.info if force else log.warning)("rebuilding %s: %s", final, problem)
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(f".{final.name}.tmp-*"):
        log.warning("%s is left from an interrupted build; delete it unless one runs", leftover)
    log.info("building %s into %s", kind, final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        write_manifest(tmp, kind, version)
        _make_world_readable(tmp)
        _move_into_place(tmp, final, kind, version)
        log.info("%s ready in %s", kind, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already unless something failed
    return final


def _make_world_readable(folder: Path) -> None:
    # mkdtemp makes the folder 0700 and safetensors writes 0600; a cache shared between
    # users (ROBUST_XLT_CACHE on a cluster) needs the usual 0755/0644. Nothing here is secret.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _move_into_place(tmp: Path, final: Path, kind: str, version: int) -> None:
    # A directory can only be renamed onto an absent or empty one, so an old folder is
    # first renamed aside; readers in between see it missing and would build their own.
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, old / final.name)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError as exc:
        # Another process finished the same build first: keep theirs if it is sound.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
        if manifest_problem(final, kind, version) is not None:
            raise
        log.info("%s was built concurrently by another process; using that one", final)
