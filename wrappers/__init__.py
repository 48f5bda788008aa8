"""Wrappers shared by evaluation and the trainers: history/context hashes, branching, prompting."""

from wrappers.branching import restore, snapshot
from wrappers.history import HistoryWrapper, Turn, context_hashes

__all__ = ["HistoryWrapper", "Turn", "context_hashes", "restore", "snapshot"]
