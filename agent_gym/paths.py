"""Where agent-gym keeps generated and cached data."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$AGENT_GYM_CACHE/<parts>`` (default ``~/.cache/agent_gym``), created if missing."""
    root = Path(os.environ.get("AGENT_GYM_CACHE") or Path.home() / ".cache" / "agent_gym")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
