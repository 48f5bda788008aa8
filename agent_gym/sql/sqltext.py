"""Small, dependency-free helpers for MySQL statement text.

Splitting is quote- and comment-aware (``'...'``, ``"..."``, backticks,
``-- ``, ``#`` and ``/* */`` comments), which is all the environment needs to
refuse multi-statement input and to cut a dump file into statements.
"""

from __future__ import annotations

import re
from typing import Iterator


_PLAIN_RUN_RE = re.compile(r"[^'\"`#/;-]+")  # text with no quote, comment start or ``;``


def _lex(text: str, exec_comments_are_code: bool) -> Iterator[tuple[str, int, int]]:
    """Cut ``text`` into ``(kind, start, end)`` pieces: ``"quoted"``, ``"comment"`` or ``"code"``.

    Comments are ``-- `` and ``#`` (to the end of the line, newline included) and
    ``/* */``. With ``exec_comments_are_code`` MySQL's executable ``/*! ... */``
    comments are not comments: their characters are lexed as code. A ``;`` is
    always a piece of its own.
    """
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in ("'", '"', "`"):
            j = _skip_quoted(text, i, c)
            kind = "quoted"
        elif (c == "-" and text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")) or c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j + 1
            kind = "comment"
        elif c == "/" and text.startswith("/*", i) and not (exec_comments_are_code and text.startswith("/*!", i)):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            kind = "comment"
        else:
            m = _PLAIN_RUN_RE.match(text, i)
            j = m.end() if m else i + 1
            kind = "code"
        yield kind, i, j
        i = j


def split_statements(text: str) -> list[str]:
    """Split ``text`` at top-level ``;`` into stripped, non-empty statements.

    Text inside string literals, quoted identifiers and comments never splits.
    Comments are kept in the statement text (MySQL's ``/*! ... */`` comments are
    executable, so they must survive).
    """
    out: list[str] = []
    start = 0
    for kind, i, j in _lex(text, exec_comments_are_code=False):
        if kind == "code" and text[i] == ";":
            piece = text[start:i].strip()
            if piece and not _only_comments(piece):
                out.append(piece)
            start = j
    piece = text[start:].strip()
    if piece and not _only_comments(piece):
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


def strip_comments(text: str) -> str:
    """``text`` without ``--``, ``#`` and plain ``/* */`` comments; executable ``/*!`` comments and quotes stay."""
    parts = [" " if kind == "comment" else text[i:j] for kind, i, j in _lex(text, exec_comments_are_code=True)]
    return "".join(parts).strip()


def _only_comments(piece: str) -> bool:
    return not strip_comments(piece)


_FIRST_WORD_RE = re.compile(r"\s*([A-Za-z_]+)")


def first_keyword(statement: str) -> str:
    """The statement's first keyword, upper-cased (``""`` if none)."""
    m = _FIRST_WORD_RE.match(strip_comments(statement))
    return m.group(1).upper() if m else ""
