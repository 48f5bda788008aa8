"""What a SQL backend provides to the environment."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from agent_gym.sql.sqltext import split_statements, strip_comments

#: Longest agent statement accepted (characters).
MAX_STATEMENT_CHARS = 20_000
#: Printed-size budget of one result (characters of ``str(row)`` summed); more is cut.
MAX_RESULT_CHARS = 5_000_000

_FORBIDDEN = (
    (re.compile(r"max_statement_time|max_execution_time", re.I), "changing the statement time limit is not allowed"),
)


@dataclass
class QueryResult:
    """Outcome of one statement: ``rows`` (``None`` without a result set) or an ``error`` message."""

    rows: list[tuple[Any, ...]] | None = None
    error: str | None = None
    truncated: bool = False
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def check_statement(text: str, max_chars: int = MAX_STATEMENT_CHARS) -> tuple[str | None, str | None]:
    """Validate agent input before it reaches a database: ``(statement, None)`` or ``(None, error)``.

    Refuses over-long input, NUL bytes, more than one statement (a single
    trailing ``;`` is fine) and attempts to lift the time limit.
    """
    if len(text) > max_chars:
        return None, f"the statement is {len(text)} characters long; the limit is {max_chars}"
    if "\x00" in text:
        return None, "the statement contains a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, "the statement is not valid Unicode text"
    statements = split_statements(text)
    if not statements:
        return None, "empty statement: send one SQL statement, or `submit` / `skip`"
    if len(statements) > 1:
        return None, (
            f"only one SQL statement per step is allowed, got {len(statements)} separated by ';'; "
            "send them one at a time"
        )
    stmt = statements[0]
    for pattern, message in _FORBIDDEN:
        if pattern.search(stmt):
            return None, message
    if not strip_comments(stmt):
        return None, "empty statement: send one SQL statement, or `submit` / `skip`"
    return stmt, None


class SQLBackend(ABC):
    """A database the env talks to. Agent statements run contained; gold queries run trusted."""

    name: str = "base"

    @abstractmethod
    def databases(self) -> list[str]:
        """Database names available (lower-case)."""

    @abstractmethod
    def begin_episode(self, db: str) -> None:
        """Give the agent a pristine session on ``db`` (fast: called on every reset)."""

    @abstractmethod
    def execute(self, statement: str) -> QueryResult:
        """Run one already-checked agent statement with the time limit and row cap."""

    @abstractmethod
    def run_gold(self, db: str, query: str) -> QueryResult:
        """Run a trusted gold query on ``db`` (no row cap)."""

    @abstractmethod
    def table_names(self, db: str) -> list[str]:
        """Tables of ``db``."""

    def current_database(self) -> str | None:
        """Database the agent session is on (may change with ``USE``)."""
        return None

    def close(self) -> None:
        """Free connections / servers."""
