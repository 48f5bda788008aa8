"""Small, dependency-free helpers for MySQL/MariaDB statement text.

The lexer follows MariaDB's own rules (``sql/sql_lex.cc``) for everything that
decides where a statement ends: ``'...'`` and ``"..."`` strings (backslash
escapes, doubled quotes), backtick identifiers, ``#`` comments, ``--``
comments (only when followed by a space, a control character or the end of the
text), ``/* */`` comments (not nested), and executable comments ``/*! ... */``
and ``/*M! ... */``, whose contents are **code**. A versioned executable
comment (``/*!50100 ...*/``, ``/*M!100500 ...*/``) is code only when the server
runs its contents: version <= the server's, and (as in MariaDB) not a MySQL
5.7+ version ``50700``-``99999`` unless it is a ``/*M!`` comment; otherwise it
is a comment, which may hold one nested ``/* */`` comment.

``exec_version`` is the server's version id (10.11.19 -> ``101119``) for
MariaDB's rules; ``None`` (other servers, SQLite, dump files) treats every
executable comment as code; :data:`NO_EXEC_COMMENTS` reads them as plain
comments, as SQLite does. The rules assume MariaDB's default ``sql_mode``
and a UTF-8 client character set; the environment refuses agent statements
that change either (see :func:`agent_gym.sql.backends.base.check_statement`).
A property-based test compares this lexer with a real MariaDB server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

#: ``exec_version`` for a reader that knows no executable comments (SQLite).
NO_EXEC_COMMENTS = -1
#: Text with no quote, comment start, ``*`` (end of an executable comment) or ``;``.
_PLAIN_RUN_RE = re.compile(r"[^'\"`#/;*-]+")
_DIGITS = frozenset("0123456789")


def version_id(major: int, minor: int, patch: int) -> int:
    """MariaDB's ``MYSQL_VERSION_ID`` for a version: ``(10, 11, 19)`` -> ``101119``."""
    return int(major) * 10000 + int(minor) * 100 + int(patch)


def server_version_id(server_info: str) -> int | None:
    """Version id from a server's version string (MariaDB's handshake prefixes ``5.5.5-``):
    ``"5.5.5-10.11.19-MariaDB-0+deb12u1"`` -> ``101119``; ``None`` when there is none."""
    info = server_info[6:] if server_info.startswith("5.5.5-") else server_info
    m = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", info)
    return version_id(*map(int, m.groups())) if m else None


def _consume_comment(text: str, j: int, nesting: int) -> int:
    """Index just past the ``*/`` that closes a comment whose body starts at ``j`` (``len(text)`` if none).

    ``nesting`` is how many levels of inner ``/* */`` the comment may hold (MariaDB: 1 for a
    skipped versioned comment, 0 for a plain one).
    """
    n = len(text)
    while j < n:
        c = text[j]
        j += 1
        if nesting > 0 and c == "/" and j < n and text[j] == "*":
            j = _consume_comment(text, j + 1, nesting - 1)
            continue
        if c == "*" and j < n and text[j] == "/":
            return j + 1
    return n


def _exec_comment(text: str, i: int, exec_version: int | None) -> tuple[str, int] | None:
    """At ``/*`` in ``text[i:]``: ``("marker", end)`` when an executable comment opens there (its body is
    code), ``("comment", end)`` for a versioned one the server skips, ``None`` for a plain comment."""
    maria = text.startswith("/*M!", i)
    if not (maria or text.startswith("/*!", i)) or (exec_version is not None and exec_version < 0):
        return None
    p = i + (4 if maria else 3)
    if all(ch in _DIGITS for ch in text[p : p + 5]) and len(text) >= p + 5:
        length = 6 if p + 5 < len(text) and text[p + 5] in _DIGITS else 5
        version = int(text[p : p + length])
        if exec_version is None or (version <= exec_version and (version < 50700 or version > 99999 or maria)):
            return "marker", p + length
        return "comment", _consume_comment(text, p, 1)
    return "marker", p


def _lex(text: str, exec_version: int | None = None) -> Iterator[tuple[str, int, int]]:
    """Cut ``text`` into ``(kind, start, end)`` pieces.

    Kinds: ``"quoted"`` (a string or backtick identifier), ``"comment"``,
    ``"marker"`` (the ``/*!NNNNN`` that opens, or the ``*/`` that closes, an
    executable comment: neither code nor text) and ``"code"``. A ``;`` is
    always a code piece of its own.
    """
    i, n = 0, len(text)
    in_exec = False
    while i < n:
        c = text[i]
        kind = "code"
        if c in ("'", '"', "`"):
            j = _skip_quoted(text, i, c)
            kind = "quoted"
        elif c == "#" or (
            c == "-" and text.startswith("--", i) and (i + 2 >= n or ord(text[i + 2]) <= 32 or text[i + 2] == "\x7f")
        ):
            j = text.find("\n", i)
            j = n if j < 0 else j + 1
            kind = "comment"
        elif c == "/" and text.startswith("/*", i):
            exe = _exec_comment(text, i, exec_version)
            if exe is None:
                kind, j = "comment", _consume_comment(text, i + 2, 0)
            else:
                kind, j = exe
                in_exec = in_exec or kind == "marker"
        elif c == "*" and in_exec and text.startswith("*/", i):
            kind, j = "marker", i + 2
            in_exec = False
        elif c in ";/*-":
            j = i + 1
        else:
            m = _PLAIN_RUN_RE.match(text, i)
            j = m.end() if m else i + 1
        yield kind, i, j
        i = j


def split_statements(text: str, exec_version: int | None = None) -> list[str]:
    """Split ``text`` at top-level ``;`` into stripped, non-empty statements.

    Text inside string literals, quoted identifiers and comments never splits;
    a ``;`` inside an executable comment does. Comments stay in the statement
    text. Pieces holding only comments are dropped.
    """
    out: list[str] = []
    start = 0
    for kind, i, j in _lex(text, exec_version):
        if kind == "code" and text[i] == ";":
            piece = text[start:i].strip()
            if piece and strip_comments(piece, exec_version):
                out.append(piece)
            start = j
    piece = text[start:].strip()
    if piece and strip_comments(piece, exec_version):
        out.append(piece)
    return out


def _skip_quoted(text: str, i: int, quote: str) -> int:
    """Index just past the quoted token starting at ``text[i]`` (end of text if unterminated)."""
    n = len(text)
    j = i + 1
    while j < n:
        c = text[j]
        if c == "\\" and quote != "`":
            j += 2
            continue
        if c == quote:
            if j + 1 < n and text[j + 1] == quote:  # doubled quote
                j += 2
                continue
            return j + 1
        j += 1
    return n


def strip_comments(text: str, exec_version: int | None = None) -> str:
    """``text`` as the server reads it: comments (and executable-comment markers) become a space; quotes stay."""
    parts = [" " if kind in ("comment", "marker") else text[i:j] for kind, i, j in _lex(text, exec_version)]
    return "".join(parts).strip()


def code_words(text: str, exec_version: int | None = None) -> str:
    """Lower-cased code of ``text`` for keyword checks: comments -> space, strings -> ``''``,
    backtick identifiers -> their name (``SET `sql_mode```` reads as ``set sql_mode``)."""
    parts = []
    for kind, i, j in _lex(text, exec_version):
        if kind in ("comment", "marker"):
            parts.append(" ")
        elif kind == "quoted":
            piece = text[i:j]
            parts.append(" " + piece[1:-1].replace("``", "`") + " " if piece[0] == "`" else " '' ")
        else:
            parts.append(text[i:j])
    return " ".join("".join(parts).split()).lower()


_FIRST_WORD_RE = re.compile(r"\s*([A-Za-z_]+)")


def first_keyword(statement: str, exec_version: int | None = None) -> str:
    """The statement's first keyword, upper-cased (``""`` if none)."""
    m = _FIRST_WORD_RE.match(strip_comments(statement, exec_version))
    return m.group(1).upper() if m else ""
