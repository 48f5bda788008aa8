"""``python -m scripts.prepare intercode``: put InterCode-SQL's Spider files in one folder.

The environment's ``data_dir`` needs ``ic_spider_dev.json`` (tasks) and
``ic_spider_dbs.sql`` (MySQL dump). Sources, first match wins:

* ``--from PATH``: a folder to search (an InterCode checkout, a copy you have)
  or an installed ``intercode-bench`` package (``--from intercode``);
* otherwise the files are downloaded from InterCode's GitHub repository
  (``--tasks-url`` / ``--dump-url`` override the addresses).

Files are written atomically (temp file + rename); existing ones are kept unless
``--force``. ``--check`` then runs every gold query (see :mod:`agent_gym.sql.check`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import urllib.request
from pathlib import Path

from agent_gym.fileio import atomic_path
from agent_gym.paths import cache_dir
from agent_gym.sql.tasks import DUMP_FILE, SPLIT_FILES

_RAW = "https://raw.githubusercontent.com/princeton-nlp/intercode/master/data/sql/spider"
DEFAULT_TASKS_URL = f"{_RAW}/{SPLIT_FILES['dev']}"
DEFAULT_DUMP_URL = f"{_RAW}/{DUMP_FILE}"


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``intercode`` arguments."""
    parser.add_argument("--out", default=None, help="target folder (default: $AGENT_GYM_CACHE/intercode)")
    parser.add_argument(
        "--from",
        dest="source",
        default=None,
        help="folder holding the files (searched recursively), or 'intercode' for an installed intercode-bench",
    )
    parser.add_argument("--tasks-url", default=DEFAULT_TASKS_URL)
    parser.add_argument("--dump-url", default=DEFAULT_DUMP_URL)
    parser.add_argument("--force", action="store_true", help="replace files that are already there")
    parser.add_argument("--check", action="store_true", help="run every gold query afterwards and list failures")
    parser.add_argument("--backend", default="auto", choices=["auto", "mysql", "sqlite"], help="backend for --check")


def _atomic_copy(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _download(url: str, dst: Path) -> None:
    with atomic_path(dst) as tmp, tmp.open("wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
        shutil.copyfileobj(resp, out)


def _search_roots(source: str) -> list[Path]:
    if source == "intercode":
        spec = importlib.util.find_spec("intercode")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("the intercode-bench package is not installed (pip install intercode-bench)")
        pkg = Path(list(spec.submodule_search_locations)[0])
        return [pkg, pkg.parent]
    root = Path(source).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    return [root]


def _find(roots: list[Path], name: str) -> Path | None:
    for root in roots:
        if root.is_file() and root.name == name:
            return root
        if root.is_dir():
            hit = next(iter(sorted(root.rglob(name))), None)
            if hit is not None:
                return hit
    return None


def _validate(tasks: Path, dump: Path) -> str:
    records = json.loads(tasks.read_text(encoding="utf-8"))
    if not isinstance(records, list) or not records or not {"db", "query", "gold"} <= set(records[0]):
        raise ValueError(f"{tasks} is not an InterCode task file (a list of {{db, query, gold, ...}})")
    head = dump.read_text(encoding="utf-8", errors="replace")[:200_000]
    if "CREATE TABLE" not in head.upper():
        raise ValueError(f"{dump} does not look like a MySQL dump")
    return f"{len(records)} tasks over {len({r['db'] for r in records})} databases"


def main(args: argparse.Namespace) -> int:
    """Gather the files into ``--out``; returns a process exit code."""
    out = Path(args.out).expanduser() if args.out else cache_dir("intercode")
    wanted = {SPLIT_FILES["dev"]: args.tasks_url, DUMP_FILE: args.dump_url}
    try:
        out.mkdir(parents=True, exist_ok=True)
        roots = _search_roots(args.source) if args.source else []
        for name, url in wanted.items():
            dst = out / name
            if dst.exists() and not args.force:
                print(f"{dst} exists (use --force to replace)")
                continue
            if roots:
                src = _find(roots, name)
                if src is None:
                    print(f"error: {name} not found under {', '.join(map(str, roots))}", file=sys.stderr)
                    return 1
                _atomic_copy(src, dst)
                print(f"copied {src} -> {dst}")
            else:
                print(f"downloading {url} ...")
                _download(url, dst)
                print(f"wrote {dst}")
        summary = _validate(out / SPLIT_FILES["dev"], out / DUMP_FILE)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not args.source:
            print(
                "if you have no internet here, copy the two files from a machine that has, and pass --from DIR",
                file=sys.stderr,
            )
        return 1
    print(f"InterCode-SQL data ready in {out}: {summary}")
    print(f"use it with: gym.make('InterCodeSQL-v0', data_dir='{out}')")
    if args.check:
        from agent_gym.sql import check

        return check.main(["--data-dir", str(out), "--backend", args.backend])
    return 0
