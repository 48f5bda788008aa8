"""A pool of private copies of fast-downward's planner library (one game loaded per copy)."""

from __future__ import annotations

import ctypes
from typing import Any

from agent_gym.alfworld.engine_compile import CompiledGame
from agent_gym.alfworld.engine_lock import LOCK
from agent_gym.errors import require

require("fast_downward", "alfworld")

import fast_downward  # noqa: E402

_FREE_PLANNERS: list[Planner] = []
_RETIRED_LIBS: list[Any] = []  # closed planners' libraries, kept mapped (never dlclose'd)


class Planner:
    """A private copy of fast-downward's planner library (one game loaded at a time).

    Loading a copy costs ~0.1-0.5 s, so closed engines hand theirs back to a
    process-wide pool (:meth:`acquire` / :meth:`release`). Copies are never unloaded:
    the copies share C++ registry objects, and once one copy was ``dlclose``d the others'
    static destructors jump into its unmapped code when the process exits (a segfault
    after all work is done, seen with more than 8 envs). The pool is therefore unbounded;
    a process holds as many copies as it ever had planners in use at once.
    """

    loaded: CompiledGame | None  #: the game in the library now (None after :meth:`release`)

    @classmethod
    def acquire(cls) -> Planner:
        """A pooled planner, or a new one."""
        with LOCK:
            if _FREE_PLANNERS:
                return _FREE_PLANNERS.pop()
        return cls()

    def release(self) -> None:
        """Hand this planner back to the pool (its loaded game is forgotten)."""
        if self.lib is None:
            return
        self.loaded = None
        self.generation += 1
        with LOCK:
            _FREE_PLANNERS.append(self)

    def __init__(self) -> None:
        with LOCK:
            self.lib = fast_downward.load_lib()
        self.lib.set_state_id.argtypes = [ctypes.c_int]
        self.lib.set_state_id.restype = None
        self.lib.get_state_id.argtypes = []
        self.lib.get_state_id.restype = ctypes.c_int
        self.loaded = None
        self.generation = 0

    def load(self, game: CompiledGame) -> None:
        self.lib.load_sas(game.translation.sas.encode("utf-8"))
        self.loaded = game
        self.generation += 1

    def close(self) -> None:
        """Free the planner's search data; the library copy stays loaded (see the class docstring)."""
        if self.lib is not None:
            try:
                self.lib.cleanup()
            except Exception:  # pragma: no cover - best effort
                pass
            _RETIRED_LIBS.append(self.lib)
            self.lib = None
