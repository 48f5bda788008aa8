"""Atomic file writes: a temporary file in the same folder, then ``os.replace``.

A reader (or a resumed run after a crash) sees either the old file or the
complete new one, never half of it. Every writer of results, caches and
checkpoints in agent-gym goes through these helpers.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: modes of files and folders written here: what ``open()`` / ``mkdir()`` would give
#: (mkstemp / mkdtemp alone make them 0600 / 0700)
_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    The temporary name keeps ``path``'s suffix, so writers that pick the format
    from the extension (``matplotlib``'s ``savefig``) still work.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it is renamed to ``path``.

    An existing ``path`` is replaced when ``replace`` is true: it is renamed aside, the new
    folder renamed in, then the old one deleted, so a reader never sees a half-deleted
    folder. Otherwise a non-empty ``path`` makes the rename fail with ``OSError`` (nothing
    is lost).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    old: Path | None = None
    try:
        yield tmp
        os.chmod(tmp, _DIR_MODE)
        if replace and path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old)  # onto the empty placeholder folder: one rename, no copy
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, data: Any, **dump_kwargs: Any) -> None:
    """``json.dump(data, **dump_kwargs)`` to ``path`` atomically (UTF-8)."""
    atomic_write_text(path, json.dumps(data, **dump_kwargs))


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], **dump_kwargs: Any) -> None:
    """One ``json.dumps(row, **dump_kwargs)`` line per row, written to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, **dump_kwargs) + "\n")


__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_jsonl",
    "atomic_write_text",
]
