"""Embedded SQLite backend: no server, MySQL dialect emulated where cheap.

The MySQL dump is converted once into one read-only SQLite file per database
(cached under ``cache_dir("sql")``). Text columns use a collation that mimics MariaDB's
``utf8mb4_general_ci`` (case/accent-insensitive, trailing spaces ignored) and tables with a primary
key are ``WITHOUT ROWID`` (clustered like InnoDB, so unordered scans come back
in key order). ``SHOW TABLES``, ``SHOW DATABASES``, ``DESC``/``DESCRIBE``/
``SHOW COLUMNS`` and ``USE`` are emulated; everything else is translated from
MySQL to SQLite with ``sqlglot`` (falling back to the raw text).

Containment: files opened read-only and immutable, an authorizer that allows
only reads (no writes, ``ATTACH``, ``PRAGMA`` or ``load_extension``), a
progress-handler deadline (which also covers fetching), a value-length limit
(``SQLITE_LIMIT_LENGTH`` = :data:`~agent_gym.sql.backends.base.MAX_VALUE_BYTES`),
a row cap and a result-size budget checked row by row.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import time
import unicodedata
from pathlib import Path
from typing import Any

from agent_gym.errors import GameLoadError
from agent_gym.paths import cache_dir
from agent_gym.sql.backends.base import MAX_RESULT_CHARS, MAX_VALUE_BYTES, QueryResult, SQLBackend, row_chars
from agent_gym.sql.sqltext import strip_comments

#: Bump when the converted layout changes.
SQLITE_LAYOUT_VERSION = "4"
_INT_TYPES = ("int", "integer", "bigint", "smallint", "tinyint", "mediumint", "bit", "bool", "boolean")
_REAL_TYPES = ("double", "float", "real", "decimal", "numeric", "dec", "fixed")

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}

_IDENT = r"`?([A-Za-z0-9_$]+)`?"
_SHOW_TABLES_RE = re.compile(rf"^SHOW\s+(?:FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+{_IDENT})?\s*$", re.I)
_SHOW_DBS_RE = re.compile(r"^SHOW\s+(?:DATABASES|SCHEMAS)\s*$", re.I)
_DESC_RE = re.compile(rf"^(?:DESC|DESCRIBE|EXPLAIN)\s+(?:{_IDENT}\.)?{_IDENT}\s*$", re.I)
_SHOW_COLS_RE = re.compile(
    rf"^SHOW\s+(?:FULL\s+)?(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+(?:{_IDENT}\.)?{_IDENT}(?:\s+(?:FROM|IN)\s+{_IDENT})?\s*$",
    re.I,
)
_USE_RE = re.compile(rf"^USE\s+{_IDENT}\s*$", re.I)
_SHOW_CREATE_RE = re.compile(rf"^SHOW\s+CREATE\s+TABLE\s+(?:{_IDENT}\.)?{_IDENT}\s*$", re.I)
_SELECT_DB_RE = re.compile(r"^SELECT\s+(?:DATABASE|SCHEMA)\s*\(\s*\)\s*$", re.I)


def _sqlite_type(mysql_type: str) -> str:
    base = mysql_type.split("(")[0].split()[0].lower()
    if base in _INT_TYPES:
        return "INTEGER"
    if base in _REAL_TYPES:
        return "REAL"
    if base in ("blob", "longblob", "mediumblob", "tinyblob", "binary", "varbinary"):
        return "BLOB"
    return f"TEXT COLLATE {COLLATION}"


#: Name of the collation that mimics MariaDB's ``utf8mb4_general_ci`` (case- and
#: accent-insensitive, trailing spaces ignored).
COLLATION = "MYSQL_GENERAL_CI"


@functools.lru_cache(maxsize=65536)
def _collation_key(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.rstrip(" "))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _mysql_general_ci(a: str, b: str) -> int:
    ka, kb = _collation_key(a), _collation_key(b)
    return (ka > kb) - (ka < kb)


def _date_part(index: int):
    def part(value: Any) -> int | None:
        m = re.match(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})", str(value)) if value is not None else None
        return int(m.group(index)) if m else None

    return part


def _register(cnx: sqlite3.Connection) -> sqlite3.Connection:
    cnx.create_collation(COLLATION, _mysql_general_ci)
    for name, index in (("YEAR", 1), ("MONTH", 2), ("DAY", 3), ("DAYOFMONTH", 3)):
        cnx.create_function(name, 1, _date_part(index), deterministic=True)
    return cnx


def _mysql_display_type(mysql_type: str) -> str:
    t = mysql_type.lower()
    return {"int": "int(11)", "bigint": "bigint(20)", "smallint": "smallint(6)", "tinyint": "tinyint(4)"}.get(t, t)


def build_sqlite_databases(dump_path: str | Path) -> Path:
    """Convert a MySQL dump into ``<cache>/sql/sqlite-*/<db>.sqlite`` files (once per dump); returns the folder."""
    from agent_gym.sql.dump import dump_hash, parse_dump

    target = cache_dir("sql") / f"sqlite-v{SQLITE_LAYOUT_VERSION}-{dump_hash(dump_path)}"
    if (target / "meta.json").is_file():
        return target
    try:
        dbs = parse_dump(Path(dump_path).read_text(encoding="utf-8", errors="replace"))
    except ValueError as exc:
        raise GameLoadError(f"cannot convert {dump_path} for SQLite: {exc}") from exc
    if not any(dbs.values()):
        raise GameLoadError(
            f"{dump_path} holds no tables: expected a MySQL dump with CREATE DATABASE / USE / CREATE TABLE statements"
        )
    staging = Path(tempfile.mkdtemp(prefix=".building_", dir=target.parent))
    meta: dict[str, dict[str, list[list[Any]]]] = {}
    try:
        for db, tables in dbs.items():
            cnx = _register(sqlite3.connect(staging / f"{db.lower()}.sqlite"))
            meta[db.lower()] = {}
            for table in tables.values():
                cols = ", ".join(f'"{c.name}" {_sqlite_type(c.mysql_type)}' for c in table.columns)
                pk = ""
                without_rowid = ""
                if table.primary_key:
                    pk = ", PRIMARY KEY (" + ", ".join(f'"{c}"' for c in table.primary_key) + ")"
                    single_int = len(table.primary_key) == 1 and any(
                        c.name == table.primary_key[0] and _sqlite_type(c.mysql_type) == "INTEGER"
                        for c in table.columns
                    )
                    without_rowid = "" if single_int else " WITHOUT ROWID"
                cnx.execute(f'CREATE TABLE "{table.name.lower()}" ({cols}{pk}){without_rowid}')
                if table.rows:
                    marks = ", ".join("?" * len(table.columns))
                    cnx.executemany(f'INSERT OR REPLACE INTO "{table.name.lower()}" VALUES ({marks})', table.rows)
                meta[db.lower()][table.name.lower()] = [
                    [
                        c.name,
                        _mysql_display_type(c.mysql_type),
                        "NO" if (c.not_null or c.name in table.primary_key) else "YES",
                        "PRI" if c.name in table.primary_key else "",
                        None,
                        "",
                    ]
                    for c in table.columns
                ]
            cnx.commit()
            cnx.close()
        (staging / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(staging, target)
        except OSError:  # built concurrently by another process
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@functools.lru_cache(maxsize=4096)
def to_sqlite(statement: str) -> str:
    """MySQL -> SQLite text via sqlglot; the input unchanged when it cannot be parsed."""
    try:
        import sqlglot

        # sqlglot logs a warning for every statement it cannot parse (agents send many)
        logging.getLogger("sqlglot").setLevel(logging.ERROR)

        out = sqlglot.transpile(statement, read="mysql", write="sqlite")
        return out[0] if len(out) == 1 else statement
    except Exception:
        return statement


class SQLiteBackend(SQLBackend):
    """Run statements on read-only SQLite copies of the dump's databases."""

    name = "sqlite"

    def __init__(
        self,
        *,
        dump_path,
        statement_timeout_s: float = 5.0,
        gold_timeout_s: float = 60.0,
        max_rows: int = 10_000,
        translate: bool = True,
    ) -> None:
        self.dump_path = Path(dump_path)
        self.folder = build_sqlite_databases(dump_path)
        self.meta: dict[str, dict[str, list[list[Any]]]] = json.loads((self.folder / "meta.json").read_text())
        self.statement_timeout_s = float(statement_timeout_s)
        self.gold_timeout_s = float(gold_timeout_s)
        self.max_rows = int(max_rows)
        self.translate = bool(translate)
        self._conns: dict[str, sqlite3.Connection] = {}
        self._db: str | None = None
        self._deadline = 0.0

    # ------------------------------------------------------------------ connections
    def _conn(self, db: str) -> sqlite3.Connection:
        key = db.lower()
        cnx = self._conns.get(key)
        if cnx is None:
            if key not in self.meta:
                raise GameLoadError(
                    f"database {db!r} is not in the dump {self.dump_path} (have: {', '.join(sorted(self.meta))})"
                )
            path = self.folder / f"{key}.sqlite"
            cnx = _register(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False))
            if hasattr(cnx, "setlimit"):
                # no value (randomblob, zeroblob, replace, group_concat ...) longer than this
                cnx.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
                cnx.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_VALUE_BYTES)
                cnx.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            cnx.set_progress_handler(self._progress, 500)  # often enough to stop a row of costly values
            self._conns[key] = cnx
        return cnx

    def _progress(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    @staticmethod
    def _authorize(action: int, arg1: Any, arg2: Any, db_name: Any, trigger: Any) -> int:
        if action not in _ALLOWED:
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_FUNCTION and str(arg2).lower() in _DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    # ------------------------------------------------------------------ API
    def databases(self) -> list[str]:
        return sorted(self.meta)

    def begin_episode(self, db: str) -> None:
        self._conn(db)
        self._db = db.lower()

    def current_database(self) -> str | None:
        return self._db

    def table_names(self, db: str) -> list[str]:
        return sorted(self.meta.get(db.lower(), {}))

    def _emulate(self, statement: str) -> QueryResult | None:
        """MySQL commands SQLite lacks; ``None`` when ``statement`` is not one of them."""
        s = strip_comments(statement).rstrip(";").strip()
        m = _SHOW_TABLES_RE.match(s)
        if m:
            db = (m.group(1) or self._db or "").lower()
            if db not in self.meta:
                return QueryResult(error=f"Unknown database '{m.group(1)}'")
            return QueryResult(rows=[(t,) for t in self.table_names(db)])
        if _SHOW_DBS_RE.match(s):
            return QueryResult(rows=[("information_schema",)] + [(d,) for d in self.databases()])
        m = _DESC_RE.match(s) or _SHOW_COLS_RE.match(s)
        if m:
            groups = [g for g in m.groups()]
            if _SHOW_COLS_RE.match(s) and groups[2]:
                db, table = groups[2], groups[1]
            else:
                db, table = groups[0] or self._db, groups[1]
            cols = self.meta.get((db or "").lower(), {}).get(table.lower())
            if cols is None:
                return QueryResult(error=f"Table '{(db or '').lower()}.{table.lower()}' doesn't exist")
            return QueryResult(rows=[tuple(c) for c in cols])
        m = _SHOW_CREATE_RE.match(s)
        if m:
            db, table = (m.group(1) or self._db or "").lower(), m.group(2).lower()
            rows = (
                self._conn(db)
                .execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
                .fetchall()
                if db in self.meta
                else []
            )
            if not rows:
                return QueryResult(error=f"Table '{db}.{table}' doesn't exist")
            return QueryResult(rows=[tuple(r) for r in rows])
        if _SELECT_DB_RE.match(s):
            return QueryResult(rows=[(self._db,)])
        m = _USE_RE.match(s)
        if m:
            if m.group(1).lower() not in self.meta:
                return QueryResult(error=f"Unknown database '{m.group(1).lower()}'")
            self.begin_episode(m.group(1))
            return QueryResult(rows=None)
        return None

    def execute(self, statement: str) -> QueryResult:
        start = time.perf_counter()
        result = self._emulate(statement)
        if result is None:
            result = self._run(
                self._conn(self._db or ""), statement, self.statement_timeout_s, self.max_rows, contained=True
            )
        result.elapsed_s = time.perf_counter() - start
        return result

    def run_gold(self, db: str, query: str) -> QueryResult:
        start = time.perf_counter()
        cnx = self._conn(db)
        saved, self._db = self._db, db.lower()
        try:
            result = self._emulate(query) or self._run(cnx, query, self.gold_timeout_s, None, contained=False)
        finally:
            self._db = saved
        result.elapsed_s = time.perf_counter() - start
        return result

    def _run(
        self, cnx: sqlite3.Connection, statement: str, timeout: float, max_rows: int | None, contained: bool
    ) -> QueryResult:
        if self._db:  # `db.table` for the current database: SQLite knows the tables unqualified
            statement = re.sub(rf"(?<![\w`.])`?{re.escape(self._db)}`?\.(?=[`A-Za-z_])", "", statement, flags=re.I)
        translated = to_sqlite(statement) if self.translate else ""
        candidates = [translated] if translated.strip() else []
        if statement not in candidates:
            candidates.append(statement)
        first_error: str | None = None
        self._deadline = time.monotonic() + timeout  # one budget for all candidates, fetching included
        for sql in candidates:
            cnx.set_authorizer(self._authorize if contained else None)
            cur = None
            try:
                cur = cnx.execute(sql)
                if cur.description is None:
                    return QueryResult(rows=None)
                rows: list[tuple[Any, ...]] = []
                size = 2
                while True:  # one row at a time: the size budget is checked before the next row is read
                    row = cur.fetchone()
                    if row is None:
                        return QueryResult(rows=rows)
                    if max_rows is not None and len(rows) >= max_rows:
                        return QueryResult(rows=rows, truncated=True, cut="rows")
                    size += row_chars(row)
                    if contained and size > MAX_RESULT_CHARS:
                        return QueryResult(rows=rows, truncated=True, cut="size")
                    rows.append(tuple(row))
            except sqlite3.Error as exc:
                msg = str(exc)
                if msg == "interrupted":
                    msg = "Query execution was interrupted (max_statement_time exceeded)"
                elif msg == "string or blob too big":
                    msg = f"string or blob too big (values are limited to {MAX_VALUE_BYTES} bytes)"
                elif "not authorized" in msg:
                    msg = "command denied: this database is read-only (only reading statements are allowed)"
                if first_error is None:
                    first_error = msg
                if str(exc) == "interrupted":
                    break
            except (ValueError, OverflowError, MemoryError) as exc:
                if first_error is None:
                    first_error = f"{type(exc).__name__}: {exc}"
            finally:
                if cur is not None:
                    cur.close()
                cnx.set_authorizer(None)
        return QueryResult(error=first_error)

    def close(self) -> None:
        for cnx in self._conns.values():
            try:
                cnx.close()
            except Exception:
                pass
        self._conns.clear()
