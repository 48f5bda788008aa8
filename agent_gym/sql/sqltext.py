"""Small, dependency-free helpers for MySQL statement text.

Splitting is quote- and comment-aware (``'...'``, ``"..."``, backticks,
``-- ``, ``#`` and ``/* */`` comments), which is all the environment needs to
refuse multi-statement input and to cut a dump file into statements.
"""

from __future__ import annotations

import re


def split_statements(text: str) -> list[str]:
    """Split ``text`` at top-level ``;`` into stripped, non-empty statements.

    Text inside string literals, quoted identifiers and comments never splits.
    Comments are kept in the statement text (MySQL's ``/*! ... */`` comments are
    executable, so they must survive).
    """
    out: list[str] = []
    start = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in ("'", '"', "`"):
            i = _skip_quoted(text, i, c)
            continue
        if c == "-" and text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n"):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c == ";":
            piece = text[start:i].strip()
            if piece and not _only_comments(piece):
                out.append(piece)
            start = i + 1
        i += 1
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
    parts: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in ("'", '"', "`"):
            j = _skip_quoted(text, i, c)
            parts.append(text[i:j])
            i = j
            continue
        if (c == "-" and text.startswith("--", i) and (i + 2 >= n or text[i + 2] in " \t\r\n")) or c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
            parts.append(" ")
            continue
        if c == "/" and text.startswith("/*", i) and not text.startswith("/*!", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            parts.append(" ")
            continue
        parts.append(c)
        i += 1
    return "".join(parts).strip()


def _only_comments(piece: str) -> bool:
    return not strip_comments(piece)


_FIRST_WORD_RE = re.compile(r"\s*([A-Za-z_]+)")


def first_keyword(statement: str) -> str:
    """The statement's first keyword, upper-cased (``""`` if none)."""
    m = _FIRST_WORD_RE.match(strip_comments(statement))
    return m.group(1).upper() if m else ""
