"""Observation text, InterCode style: ``[('people',), ('poker_player',)]`` or ``Error executing query: ...``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_gym.sql.backends.base import MAX_RESULT_CHARS

ERROR_PREFIX = "Error executing query: "
NO_ROWS_TEXT = "Query executed successfully. No rows returned."


def render_rows(
    rows: Sequence[Any],
    max_chars: int = 2000,
    truncated: bool = False,
    max_rows: int | None = None,
    cut: str | None = None,
) -> str:
    """``str(list_of_tuples)``, cut to ``max_chars``, with a note saying what was cut.

    ``truncated`` says the backend dropped rows; ``cut`` why: ``"rows"`` (the
    row cap ``max_rows``) or ``"size"`` (the result-size budget). The note
    always counts the rows actually kept.
    """
    text = str(list(rows))
    notes = []
    if len(text) > max_chars:
        text = text[:max_chars] + " ..."
        notes.append(f"output cut to {max_chars} characters" + ("" if truncated else f"; {len(rows)} rows in total"))
    if truncated:
        if cut == "size":
            why = f"the result passed the size limit of {MAX_RESULT_CHARS:,} characters"
        elif max_rows is not None:
            why = f"the row limit is {max_rows}"
        else:
            why = "the row limit was reached"
        notes.append(f"only the first {len(rows)} rows were kept: {why}")
    if notes:
        text += f"\n[{'; '.join(notes)}]"
    return text


def render_error(message: str) -> str:
    """InterCode's error observation."""
    return ERROR_PREFIX + message


def render_result(
    rows: Sequence[Any] | None,
    error: str | None,
    *,
    max_chars: int = 2000,
    truncated: bool = False,
    max_rows: int | None = None,
    cut: str | None = None,
) -> str:
    """Observation for one executed statement."""
    if error is not None:
        return render_error(error)
    if rows is None:
        return NO_ROWS_TEXT
    return render_rows(rows, max_chars=max_chars, truncated=truncated, max_rows=max_rows, cut=cut)


def task_prompt(question: str, db: str) -> str:
    """First observation of an episode: the question and the database the session is on.

    (InterCode's first observation is the bare question; naming the database
    costs nothing and saves the agent a ``SELECT DATABASE()``.)
    """
    return f"{question}\nDatabase: {db}"
