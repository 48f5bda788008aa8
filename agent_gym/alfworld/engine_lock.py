"""The process-wide lock of the ALFWorld engine.

fast-downward's PDDL translator, its planner-library loader and textworld's TatSu
parsers keep module-level state; every engine module takes this one lock around them.
"""

from __future__ import annotations

import threading

#: One re-entrant lock for all engine modules (grammar parses, translation, planner loading).
LOCK = threading.RLock()
