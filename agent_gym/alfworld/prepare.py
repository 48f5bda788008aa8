"""``python -m scripts.prepare alfworld``: get the official ALFWorld game files.

* ``--from ARCHIVE_OR_FOLDER``: unpack a ``.tar.xz``/``.tar.gz``/``.tar``/``.zip``
  archive holding ``json_2.1.1/<split>/...`` (or copy such a folder) into the data dir;
  ``--include 'pick_and_place_simple-*'`` keeps only matching task folders.
* without ``--from``: download the release zip that ``alfworld-download``
  (alfworld 0.4.2) fetches and unpack its ``game.tw-pddl`` files.

Then point the env at it: ``ALFWORLD_DATA=<data dir>`` or ``data_dir=``.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Iterable
from pathlib import Path

from agent_gym.alfworld.data import ENV_VAR, GAME_FILE, SPLITS, env_data_root

#: The json + game.tw-pddl release that ``alfworld-download`` of alfworld 0.4.2 fetches.
TW_PDDL_URL = "https://github.com/alfworld/alfworld/releases/download/0.4.0/json_2.1.2_tw-pddl.zip"
#: Only game files and the per-trial json are kept from archives.
KEEP_NAMES = (GAME_FILE, "traj_data.json")
_JSON_DIR = re.compile(r"json_2\.1\.\d+")


def default_data_dir() -> Path:
    """``$ALFWORLD_DATA`` if set, else ``~/.cache/alfworld`` (alfworld's own default)."""
    return env_data_root() or Path("~/.cache/alfworld").expanduser()


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``alfworld`` sub-command's arguments."""
    parser.description = "Get the official ALFWorld game files: download them, or unpack an archive or folder you have."
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"root that will hold json_2.1.1/<split>/ (default: ${ENV_VAR} or ~/.cache/alfworld)",
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        metavar="ARCHIVE_OR_FOLDER",
        help="unpack this archive (.tar.xz/.tar.gz/.tar/.zip) or copy this folder instead of downloading",
    )
    parser.add_argument(
        "--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits to keep (default: all present)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=None,
        metavar="GLOB",
        help="keep only task folders matching this glob (repeatable), e.g. 'pick_and_place_simple-*'",
    )
    parser.add_argument("--url", default=TW_PDDL_URL, help="release zip to download (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="overwrite files that already exist")
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="also translate the games into the engine's disk cache now (parallel; ~1-2 CPU-s per game) "
        "so that first plays are fast",
    )
    parser.add_argument("--workers", type=int, default=None, help="processes for --warm-cache (default: all CPUs)")


def _wanted(member: str, splits: Iterable[str], include: list[str] | None) -> str | None:
    """Relative path ``json_2.1.1/<split>/<task>/<trial>/<file>`` to write, or None to skip."""
    parts = Path(member).parts
    if ".." in parts:
        return None
    tops = [i for i, p in enumerate(parts) if _JSON_DIR.fullmatch(p)]
    if tops:
        parts = ("json_2.1.1",) + parts[tops[0] + 1 :]
    elif parts and parts[0] in SPLITS:  # a split folder itself was given
        parts = ("json_2.1.1",) + parts
    else:
        return None
    if len(parts) < 3 or parts[1] not in splits or parts[-1] not in KEEP_NAMES:
        return None
    if include and not any(fnmatch.fnmatch(parts[2], pat) for pat in include):
        return None
    return "/".join(parts)


def _write(dest: Path, data_stream, force: bool) -> bool:
    if dest.exists() and not force:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(data_stream, out)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def _progress(total: int | None, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="file", disable=not sys.stderr.isatty())


def unpack(
    source: Path, data_dir: Path, splits: Iterable[str], include: list[str] | None = None, force: bool = False
) -> int:
    """Unpack/copy the games of ``source`` into ``data_dir``; returns how many game files were written."""
    splits = list(splits)
    written = seen = 0
    bar = _progress(None, f"unpacking {source.name}")
    try:
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                if not path.is_file():
                    continue
                rel = _wanted(path.relative_to(source.parent).as_posix(), splits, include)
                if rel is None:
                    continue
                with open(path, "rb") as fh:
                    written += _write(data_dir / rel, fh, force) and rel.endswith(GAME_FILE)
                seen += rel.endswith(GAME_FILE)
                bar.update(1)
        elif zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    rel = None if info.is_dir() else _wanted(info.filename, splits, include)
                    if rel is None:
                        continue
                    with zf.open(info) as zip_fh:
                        written += _write(data_dir / rel, zip_fh, force) and rel.endswith(GAME_FILE)
                    seen += rel.endswith(GAME_FILE)
                    bar.update(1)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source, "r:*") as tf:
                for member in tf:  # streaming: xz archives are read once
                    rel = _wanted(member.name, splits, include) if member.isfile() else None
                    if rel is None:
                        continue
                    tar_fh = tf.extractfile(member)
                    if tar_fh is None:
                        continue
                    written += _write(data_dir / rel, tar_fh, force) and rel.endswith(GAME_FILE)
                    seen += rel.endswith(GAME_FILE)
                    bar.update(1)
        else:
            raise ValueError(f"{source} is neither a folder nor a .zip/.tar(.xz/.gz/.bz2) archive")
    finally:
        bar.close()
    if seen == 0:
        raise ValueError(
            f"no json_2.1.1/<{'|'.join(splits)}>/.../{GAME_FILE} files found in {source}"
            + (f" matching {include}" if include else "")
        )
    return written


def download(url: str, dest_dir: Path) -> Path:
    """Download ``url`` into ``dest_dir`` (atomic; resumes nothing, skips if present)."""
    dest = dest_dir / url.rsplit("/", 1)[-1]
    if dest.exists():
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, suffix=".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, os.fdopen(fd, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            from tqdm import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}")
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
            bar.close()
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def main(args: argparse.Namespace) -> int:
    """Run the command; returns a process exit code."""
    data_dir = (args.data_dir or default_data_dir()).expanduser()
    include = args.include
    if args.source is not None:
        source = args.source.expanduser()
        if not source.exists():
            print(f"error: {source} does not exist", file=sys.stderr)
            return 2
        try:
            written = unpack(source, data_dir, args.splits, include, args.force)
        except (ValueError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
            print(f"error: cannot unpack {source}: {exc}", file=sys.stderr)
            return 1
    else:
        try:
            archive = download(args.url, data_dir)
        except OSError as exc:
            print(
                f"error: cannot download {args.url} ({exc}).\n"
                f"Without internet, unpack an archive or folder you have: "
                f"python -m scripts.prepare alfworld --data-dir {data_dir} --from ARCHIVE_OR_FOLDER",
                file=sys.stderr,
            )
            return 1
        try:
            written = unpack(archive, data_dir, args.splits, include, args.force)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            print(f"error: cannot unpack {archive}: {exc}", file=sys.stderr)
            return 1
        archive.unlink(missing_ok=True)
    counts = {
        s: sum(1 for _ in (data_dir / "json_2.1.1" / s).rglob(GAME_FILE))
        for s in args.splits
        if (data_dir / "json_2.1.1" / s).is_dir()
    }
    print(f"wrote {written} game files under {data_dir / 'json_2.1.1'}; games per split: {counts}")
    if args.warm_cache:
        from agent_gym.alfworld.engine import warm_translation_cache

        files = [
            p
            for s in args.splits
            for p in sorted((data_dir / "json_2.1.1" / s).rglob(GAME_FILE))
            if not include or any(fnmatch.fnmatch(p.parent.parent.name, pat) for pat in include)
        ]
        errors = warm_translation_cache(files, workers=args.workers, progress=sys.stderr.isatty())
        print(f"translated {len(files) - len(errors)} games into the engine cache; {len(errors)} failed")
        for path, err in list(errors.items())[:10]:
            print(f"  {path}: {err}", file=sys.stderr)
    print(f"use it with: export {ENV_VAR}={data_dir}   (or ALFWorldTextEnv(data_dir='{data_dir}'))")
    return 0
