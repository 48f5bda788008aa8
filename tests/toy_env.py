"""The toy env of the tests: the diagnostic corridor env (:mod:`agent_gym.diagnostic.corridor`), re-exported.

Tests register it under their own ids with ``entry_point="tests.toy_env:CorridorEnv"``.
"""

from agent_gym.diagnostic.corridor import CorridorEnv

__all__ = ["CorridorEnv"]
