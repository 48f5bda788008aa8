"""What a SQL backend provides to the environment."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from agent_gym.sql.sqltext import NO_EXEC_COMMENTS, code_words, split_statements

#: Longest agent statement accepted (characters).
MAX_STATEMENT_CHARS = 20_000
#: Size budget of one result: characters of its printed form (``str(value)`` summed); rows past it are cut.
MAX_RESULT_CHARS = 1_000_000
#: Longest value (bytes) a statement may build: longer ones fail (SQLite) or become NULL (MariaDB's
#: ``max_allowed_packet``), so one result row stays small whatever the statement computes.
MAX_VALUE_BYTES = 65_536

_SETTINGS_RE = re.compile(
    r"(?<![@\w$])(?:@@(?:session\.|local\.|global\.)?)?(sql_mode|names|character|charset|character_set_\w+|collation_connection)\b"
)
_USER_VAR_RE = re.compile(r"(?<!@)@(?:[\w$.]+|'')")
_REFUSED = (
    (re.compile(r"\b(?:max_statement_time|max_execution_time)\b"), "changing the statement time limit is not allowed"),
    (
        re.compile(r"^set\s+statement\b"),
        "SET STATEMENT ... FOR is not allowed: the env sets each statement's limits itself; send the statement alone",
    ),
    (
        re.compile(r"^(?:prepare|execute|deallocate|drop\s+prepare)\b"),
        "prepared statements (PREPARE / EXECUTE) are not allowed; send the statement itself",
    ),
    (
        re.compile(r"^(?:begin\s+not\s+atomic|loop|while|repeat|if|case|for|declare|[\w$]+\s*:)\b"),
        "compound statements (BEGIN NOT ATOMIC ... END, LOOP, WHILE, IF ...) are not allowed; send one plain statement",
    ),
    (re.compile(r"^kill\b"), "KILL is not allowed"),
    (
        re.compile(r"^(?:set\s+password|alter\s+user|set\s+default\s+role|rename\s+user)\b"),
        "changing the database account is not allowed",
    ),
    (re.compile(r"^xa\b"), "XA transactions are not allowed"),
)


@dataclass(frozen=True)
class ServerSettings:
    """Where :class:`~agent_gym.sql.backends.mysql.MySQLBackend` connects: an existing MySQL/MariaDB
    server that already holds the databases, or (``host`` and ``port`` both ``None``) a private
    MariaDB server the backend starts itself.

    ``user``/``password`` is the admin account (loads nothing, runs the gold queries);
    ``agent_user``/``agent_password`` a read-only account for agent statements (else the admin one).
    """

    host: str | None = None
    port: int | str | None = None
    user: str | None = None
    password: str | None = None
    agent_user: str | None = None
    agent_password: str | None = None

    @property
    def external(self) -> bool:
        """Whether an existing server was named (else a private one is started)."""
        return self.host is not None or self.port is not None


@dataclass
class QueryResult:
    """Outcome of one statement: ``rows`` (``None`` without a result set) or an ``error`` message.

    ``truncated`` says rows were dropped; ``cut`` says why: ``"rows"`` (the row cap) or
    ``"size"`` (the result-size budget :data:`MAX_RESULT_CHARS`). ``rows`` holds what was kept.
    """

    rows: list[tuple[Any, ...]] | None = None
    error: str | None = None
    truncated: bool = False
    elapsed_s: float = 0.0
    cut: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def value_chars(value: Any) -> int:
    """Cheap upper estimate of ``len(str(value))`` (``repr`` of bytes takes up to 4 characters a byte)."""
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, (bytes, bytearray)):
        return 4 * len(value) + 3
    if value is None or isinstance(value, (int, float, bool)):
        return 24
    return len(str(value))


def row_chars(row: Any) -> int:
    """:func:`value_chars` over a row, plus the separators."""
    return sum(value_chars(v) + 2 for v in row) + 2


def check_statement(
    text: str, max_chars: int = MAX_STATEMENT_CHARS, exec_version: int | None = None
) -> tuple[str | None, str | None]:
    """Validate agent input before it reaches a database: ``(statement, None)`` or ``(None, error)``.

    Refuses over-long input, NUL bytes, more than one statement (a single
    trailing ``;`` is fine; executable comments ``/*! */`` are code) and the
    statements that would escape the env's limits or its reading of statement
    text: changing the time limit, ``SET STATEMENT``, prepared statements,
    compound statements, ``KILL``, ``XA``, account changes (``SET PASSWORD``,
    ``ALTER USER``) and changing ``sql_mode`` or the connection character set. ``exec_version`` is the MariaDB server's version
    id (see :mod:`agent_gym.sql.sqltext`).
    """
    if len(text) > max_chars:
        return None, f"the statement is {len(text)} characters long; the limit is {max_chars}"
    if "\x00" in text:
        return None, "the statement contains a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None, "the statement is not valid Unicode text"
    statements = split_statements(text, exec_version)
    if exec_version is None:  # server unknown: refuse what is several statements either way
        other = split_statements(text, NO_EXEC_COMMENTS)
        if len(other) > len(statements):
            statements = other
    if not statements:
        return None, "empty statement: send one SQL statement, or `submit` / `skip`"
    if len(statements) > 1:
        return None, (
            f"only one SQL statement per step is allowed, got {len(statements)} separated by ';'; "
            "send them one at a time"
        )
    stmt = statements[0]
    words = code_words(stmt, exec_version)
    if not words:
        return None, "empty statement: send one SQL statement, or `submit` / `skip`"
    for pattern, message in _REFUSED:
        if pattern.search(words):
            return None, message
    if re.match(r"set\b", words) and _SETTINGS_RE.search(_USER_VAR_RE.sub(" ", words[3:])):
        return None, (
            "changing sql_mode or the connection character set is not allowed "
            "(the env must read statements exactly as the server does)"
        )
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

    #: Server version id for :func:`check_statement` (``None``: every executable comment is code).
    exec_version: int | None = None

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

    def close(self) -> None:  # noqa: B027  (optional hook: backends without resources keep this no-op)
        """Free connections / servers."""
