"""How closely the SQLite backend reproduces MariaDB's results (a measurement helper).

Both backends score an agent against gold results computed on the *same*
backend, so every gold query that runs scores 1.0 on either. What differs is
whether the *results* match: this module compares gold results across backends
after normalising value types the drivers print differently (``Decimal`` vs
``float``, ``datetime`` vs text, letter case that a case-insensitive collation
lets through).
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Sequence
from typing import Any

from agent_gym.sql.reward import score


def normalize_value(v: Any) -> Any:
    """A backend-neutral form of one result value."""
    if isinstance(v, decimal.Decimal):
        v = float(v)
    if isinstance(v, float):
        v = round(v, 4)
        if v.is_integer():
            v = int(v)
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time, datetime.timedelta)):
        v = str(v)
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v).decode("utf-8", "replace")
    if isinstance(v, str):
        v = v.rstrip(" ").lower()
    return v


def normalize_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def agreement(
    rows_a: Sequence[Sequence[Any]] | None, rows_b: Sequence[Sequence[Any]] | None, normalize: bool = True
) -> float:
    """InterCode reward of ``rows_a`` scored against ``rows_b`` (0 when either is missing)."""
    if rows_a is None or rows_b is None:
        return 0.0
    if normalize:
        rows_a, rows_b = normalize_rows(rows_a), normalize_rows(rows_b)
    return score(rows_a, rows_b).reward
