"""Observation text, InterCode style: ``[('people',), ('poker_player',)]`` or ``Error executing query: ...``."""

from __future__ import annotations

from typing import Any, Sequence

ERROR_PREFIX = "Error executing query: "
NO_ROWS_TEXT = "Query executed successfully. No rows returned."


def render_rows(rows: Sequence[Any], max_chars: int = 2000, truncated: bool = False, max_rows: int | None = None) -> str:
    """``str(list_of_tuples)``, cut to ``max_chars`` with a note saying how many rows there were.

    ``truncated`` says the server-side row cap (``max_rows``) was hit.
    """
    text = str(list(rows))
    notes = []
    if len(text) > max_chars:
        text = text[:max_chars] + " ..."
        notes.append(f"output cut to {max_chars} characters; {len(rows)} rows in total")
    if truncated:
        notes.append(f"only the first {max_rows if max_rows is not None else len(rows)} rows were kept")
    if notes:
        text += f"\n[{'; '.join(notes)}]"
    return text


def render_error(message: str) -> str:
    """InterCode's error observation."""
    return ERROR_PREFIX + message


def render_result(rows: Sequence[Any] | None, error: str | None, *, max_chars: int = 2000,
                  truncated: bool = False, max_rows: int | None = None) -> str:
    """Observation for one executed statement."""
    if error is not None:
        return render_error(error)
    if rows is None:
        return NO_ROWS_TEXT
    return render_rows(rows, max_chars=max_chars, truncated=truncated, max_rows=max_rows)


def task_prompt(question: str, db: str) -> str:
    """First observation of an episode: the question and the database the session is on.

    (InterCode's first observation is the bare question; naming the database
    costs nothing and saves the agent a ``SELECT DATABASE()``.)
    """
    return f"{question}\nDatabase: {db}"
