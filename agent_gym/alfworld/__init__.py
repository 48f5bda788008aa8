"""ALFWorld text games: the fast engine, ``ALFWorld-Text-v0``, data helpers, oracle and generator.

Modules: :mod:`~agent_gym.alfworld.engine` (fast engine on textworld's PDDL
machinery; its parts live in ``engine_grammar``, ``engine_translation``,
``engine_facts``, ``engine_compile``, ``engine_planner`` and ``engine_lock``),
:mod:`~agent_gym.alfworld.env` (``ALFWorldTextEnv``),
:mod:`~agent_gym.alfworld.data` (data dirs, splits, task types),
:mod:`~agent_gym.alfworld.prepare` (``python -m scripts.prepare alfworld``),
:mod:`~agent_gym.alfworld.oracle`, :mod:`~agent_gym.alfworld.facts` (expert),
:mod:`~agent_gym.alfworld.generator` (offline games; its parts live in the
``gen_*`` modules, ``gen_play`` plays the oracle through a game for verification).

Submodules are imported on demand so that ``import agent_gym`` stays cheap.
"""

from agent_gym.alfworld.data import SPLITS, TASK_TYPES

__all__ = ["SPLITS", "TASK_TYPES"]
