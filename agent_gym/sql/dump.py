"""Read InterCode's MySQL 8 dump: adapt it for MariaDB, or parse it into tables for SQLite.

The official ``ic_spider_dbs.sql`` is a ``mysqldump`` of MySQL 8. MariaDB rejects
MySQL 8 collation names (``utf8mb4_0900_ai_ci``) and must not receive the
``mysql`` system schema; the dump's own ``CREATE USER 'admin' ... GRANT ALL``
is dropped too (the environment makes its own, read-only account).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent_gym.sql.sqltext import first_keyword, split_statements, strip_comments

#: Schemas a dump may contain that must never be loaded.
SYSTEM_SCHEMAS = frozenset({"mysql", "sys", "performance_schema", "information_schema"})

_SKIP_KEYWORDS = frozenset({"GRANT", "REVOKE", "FLUSH", "LOCK", "UNLOCK"})
_COLLATION_RE = re.compile(r"\butf8mb4_(?:[a-z]+_)?0900_[a-z_]+\b", re.I)
_USE_RE = re.compile(r"^USE\s+`?([^`;\s]+)`?\s*$", re.I)
_CREATE_DB_RE = re.compile(r"^CREATE\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?`?([^`\s;]+)`?", re.I)
_USER_RE = re.compile(r"^(CREATE|DROP|ALTER|RENAME)\s+USER\b", re.I)
_GTID_RE = re.compile(r"@@(GLOBAL\.GTID_PURGED|SESSION\.SQL_LOG_BIN)", re.I)


def dump_hash(path: str | Path) -> str:
    """Short content hash of a dump file (cache key)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def mariadb_statements(text: str) -> list[tuple[str | None, str]]:
    """``(database, statement)`` pairs ready to run on MariaDB, in dump order.

    ``database`` is the schema in use (``None`` before the first ``USE``).
    Drops user/privilege statements, ``LOCK TABLES``, GTID settings and
    everything inside system schemas; maps MySQL 8 collations to
    ``utf8mb4_general_ci``.
    """
    out: list[tuple[str | None, str]] = []
    current: str | None = None
    for stmt in split_statements(text):
        bare = strip_comments(stmt)
        kw = first_keyword(stmt)
        m = _USE_RE.match(bare)
        if m:
            current = m.group(1)
            if current.lower() not in SYSTEM_SCHEMAS:
                out.append((current, stmt))
            continue
        m = _CREATE_DB_RE.match(bare)
        if m and m.group(1).lower() in SYSTEM_SCHEMAS:
            continue
        if current is not None and current.lower() in SYSTEM_SCHEMAS:
            continue
        if kw in _SKIP_KEYWORDS or _USER_RE.match(bare) or _GTID_RE.search(stmt):
            continue
        out.append((current, _COLLATION_RE.sub("utf8mb4_general_ci", stmt)))
    return out


# --------------------------------------------------------------------------- SQLite side
@dataclass
class Column:
    name: str
    mysql_type: str
    not_null: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)


_CREATE_TABLE_RE = re.compile(
    r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?([^`\s(]+)`?\s*\((.*)\)[^)]*$", re.I | re.S
)
_INSERT_RE = re.compile(
    r"^INSERT\s+(?:IGNORE\s+)?INTO\s+`?([^`\s(]+)`?\s*(?:\(([^)]*)\))?\s*VALUES\s*(.*)$", re.I | re.S
)
_COLUMN_RE = re.compile(r"^`([^`]+)`\s+([A-Za-z]+(?:\s*\([^)]*\))?(?:\s+unsigned)?)", re.I)
_PK_RE = re.compile(r"^PRIMARY\s+KEY\s*\((.*)\)(?:\s+USING\s+\w+)?\s*$", re.I)


def parse_dump(text: str) -> dict[str, dict[str, Table]]:
    """Parse a mysqldump into ``{database: {table_name: Table}}`` (schema + rows).

    Only what ``mysqldump`` writes is understood: ``CREATE TABLE`` with one
    column or key per line and ``INSERT INTO t VALUES (...),(...)``.
    """
    dbs: dict[str, dict[str, Table]] = {}
    for db, stmt in mariadb_statements(text):
        bare = strip_comments(stmt)
        kw = first_keyword(bare)
        if kw == "CREATE":
            m = _CREATE_DB_RE.match(bare)
            if m:
                dbs.setdefault(m.group(1), {})
                continue
            m = _CREATE_TABLE_RE.match(bare)
            if m and db is not None:
                dbs.setdefault(db, {})[m.group(1)] = _parse_create_table(m.group(1), m.group(2))
        elif kw == "INSERT" and db is not None:
            m = _INSERT_RE.match(bare)
            if not m:
                raise ValueError(f"cannot parse INSERT statement: {bare[:120]!r}")
            table = dbs.setdefault(db, {}).get(m.group(1))
            if table is None:
                raise ValueError(f"INSERT into unknown table {db}.{m.group(1)}")
            table.rows.extend(parse_values(m.group(3)))
        elif kw == "DROP":
            continue
    return dbs


def _parse_create_table(name: str, body: str) -> Table:
    table = Table(name)
    for line in body.split("\n"):
        line = line.strip().rstrip(",")
        if not line:
            continue
        m = _COLUMN_RE.match(line)
        if m:
            table.columns.append(Column(m.group(1), m.group(2).lower(), bool(re.search(r"\bNOT\s+NULL\b", line, re.I))))
            continue
        m = _PK_RE.match(line)
        if m:
            table.primary_key = [re.sub(r"\(\d+\)$", "", c.strip()).strip("`") for c in _split_key_columns(m.group(1))]
    return table


def _split_key_columns(text: str) -> list[str]:
    """``a`,`b`(255)`` -> [``a``, ``b`(255)``] (commas inside parentheses do not split)."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\", "'": "'", '"': '"'}
_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_values(text: str) -> list[tuple[Any, ...]]:
    """Parse ``(1,'a\\'b',NULL),(2,...)`` into Python tuples."""
    rows: list[tuple[Any, ...]] = []
    i, n = 0, len(text)
    row: list[Any] | None = None
    while i < n:
        c = text[i]
        if c in " \t\r\n,":
            i += 1
        elif c == "(" and row is None:
            row = []
            i += 1
        elif c == ")" and row is not None:
            rows.append(tuple(row))
            row = None
            i += 1
        elif row is None:
            if c == ";":
                break
            raise ValueError(f"unexpected {c!r} in VALUES at offset {i}")
        elif c in ("'", '"'):
            value, i = _parse_string(text, i, c)
            row.append(value)
        else:
            m = _NUMBER_RE.match(text, i)
            if m:
                lit = m.group(0)
                row.append(float(lit) if any(ch in lit for ch in ".eE") else int(lit))
                i = m.end()
            elif text[i : i + 4].upper() == "NULL":
                row.append(None)
                i += 4
            elif text[i : i + 7].lower() == "_binary":
                i += 7
            else:
                raise ValueError(f"cannot parse value at offset {i}: {text[i : i + 30]!r}")
    if row is not None:
        raise ValueError(f"unterminated row in VALUES: {text[-60:]!r}")
    return rows


def _parse_string(text: str, i: int, quote: str) -> tuple[str, int]:
    out: list[str] = []
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n:
            nxt = text[j + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            j += 2
        elif c == quote:
            if j + 1 < n and text[j + 1] == quote:
                out.append(quote)
                j += 2
            else:
                return "".join(out), j + 1
        else:
            out.append(c)
            j += 1
    raise ValueError("unterminated string literal in VALUES")
