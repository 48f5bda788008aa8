"""ALFWorld text games: the fast engine, ``ALFWorld-Text-v0``, data helpers, oracle and generator.

Modules: :mod:`~agent_gym.alfworld.engine` (fast engine on textworld's PDDL
machinery), :mod:`~agent_gym.alfworld.env` (``ALFWorldTextEnv``),
:mod:`~agent_gym.alfworld.data` (data dirs, splits, task types),
:mod:`~agent_gym.alfworld.prepare` (``python -m scripts.prepare alfworld``),
:mod:`~agent_gym.alfworld.oracle`, :mod:`~agent_gym.alfworld.facts` and
:mod:`~agent_gym.alfworld.generator` (expert and offline games).

Submodules are imported on demand so that ``import agent_gym`` stays cheap.
"""

from agent_gym.alfworld.data import SPLITS, TASK_TYPES

__all__ = ["SPLITS", "TASK_TYPES"]
