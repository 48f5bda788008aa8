"""InterCode-SQL task files and where the data lives.

A data folder holds ``ic_spider_dev.json`` (a list of ``{db, query, gold,
hardness, db_tables}``; ``query`` is the question, ``gold`` the SQL) and the
MySQL dump ``ic_spider_dbs.sql``. Without ``data_dir`` the project's own small
benchmark in ``assets/sql`` is used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from agent_gym.errors import DataNotFoundError, GameLoadError
from agent_gym.paths import asset_path

#: The project's embedded benchmark (``assets/sql``, packaged as ``agent_gym_assets/sql``).
ASSETS_DIR = asset_path("sql")
#: Task file name per split, and the dump file name.
SPLIT_FILES = {"dev": "ic_spider_dev.json", "train": "ic_spider_train.json"}
DUMP_FILE = "ic_spider_dbs.sql"
ASSET_SPLIT_FILES = {"dev": "tasks.json"}
ASSET_DUMP_FILE = "dbs.sql"
_PREPARE_HINT = "python -m scripts.prepare intercode --out DIR"


@dataclass(frozen=True)
class SQLTask:
    """One question: ``question`` is InterCode's ``query`` field, ``gold`` the reference SQL."""

    index: int
    db: str
    question: str
    gold: str
    hardness: str
    db_tables: dict[str, list[str]] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return str(self.index)


@dataclass(frozen=True)
class SQLDataset:
    """A split's tasks plus the dump that holds their databases."""

    tasks: list[SQLTask]
    dump_path: Path
    source: str  # "assets" or the data_dir path
    tasks_path: Path | None = None


def load_tasks(path: str | Path) -> list[SQLTask]:
    """Read an InterCode task file (JSON list, or JSON lines)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataNotFoundError(f"cannot read task file {path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise GameLoadError(f"task file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    try:
        records = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise GameLoadError(f"task file {path} is not valid JSON: {exc}") from exc
    if not isinstance(records, list) or not records:
        raise GameLoadError(
            f"task file {path} holds no tasks (expected a JSON list of {{db, query, gold, hardness}} records)"
        )
    tasks = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise GameLoadError(f"task {i} in {path} is not a JSON object (need db, query, gold, hardness)")
        missing = [k for k in ("db", "query", "gold") if k not in rec]
        if missing:
            raise GameLoadError(
                f"task {i} in {path} lacks field(s) {', '.join(missing)} (need db, query, gold, hardness)"
            )
        bad = [k for k in ("db", "query", "gold") if not isinstance(rec[k], str) or not rec[k].strip()]
        if bad:
            raise GameLoadError(
                f"task {i} in {path} has no usable {', '.join(bad)} ({', '.join(f'{k}={rec[k]!r}' for k in bad)}); "
                "each must be a non-empty string"
            )
        tables = rec.get("db_tables") or {}
        tasks.append(
            SQLTask(
                i,
                rec["db"],
                rec["query"],
                rec["gold"],
                str(rec.get("hardness") or ""),
                tables if isinstance(tables, dict) else {},
            )
        )
    return tasks


def load_dataset(data_dir: str | Path | None = None, split: str = "dev") -> SQLDataset:
    """Tasks and dump for ``split`` from ``data_dir`` (InterCode files) or the embedded benchmark."""
    if data_dir is None:
        if split not in ASSET_SPLIT_FILES:
            raise DataNotFoundError(
                f"the embedded benchmark has only split(s) {sorted(ASSET_SPLIT_FILES)}; got {split!r}"
            )
        tasks_path, dump_path, source = ASSETS_DIR / ASSET_SPLIT_FILES[split], ASSETS_DIR / ASSET_DUMP_FILE, "assets"
    else:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise DataNotFoundError(
                f"InterCode-SQL data folder {root} does not exist; get the data with: {_PREPARE_HINT}"
            )
        name = SPLIT_FILES.get(split, f"ic_spider_{split}.json")
        tasks_path, dump_path, source = root / name, root / DUMP_FILE, str(root)
    for p in (tasks_path, dump_path):
        if not p.is_file():
            raise DataNotFoundError(f"{p} is missing; get the InterCode-SQL data with: {_PREPARE_HINT}")
    return SQLDataset(load_tasks(tasks_path), dump_path, source, tasks_path)
