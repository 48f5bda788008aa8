"""Play a game on the stock textworld PDDL engine (slow, reference behaviour).

Used to check the oracle and generated games against the unmodified engine:
textworld's ``PddlEnv`` wrapped in alfworld's ``AlfredDemangler`` (the names
``cabinet 3``...), exactly how alfworld's own ``AlfredTWEnv`` plays games.
Loading takes seconds and a step ~0.2 s; prefer the fast env for bulk work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent_gym.alfworld.facts import live_facts
from agent_gym.alfworld.gen_play import OracleRun, play_oracle
from agent_gym.errors import GameLoadError, require


class StockGame:
    """One game on the stock engine: ``reset()``, ``step(cmd)``, ``facts()``, ``admissible``."""

    def __init__(self, game: Mapping[str, Any] | str | Path):
        require("textworld", "alfworld")
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
        from textworld.envs.pddl import PddlEnv

        name = str(game) if isinstance(game, (str, Path)) else "<game dict>"
        try:
            data = json.loads(Path(game).read_text()) if isinstance(game, (str, Path)) else dict(game)
        except (OSError, ValueError) as exc:
            raise GameLoadError(f"cannot read ALFWorld game {name}: {exc}") from exc
        self.game = data
        infos = textworld.EnvInfos(won=True, admissible_commands=True)
        self._env = AlfredDemangler(PddlEnv(infos))
        try:
            self._env.load(data)
        except SystemExit as exc:  # the PDDL translator exits on some malformed inputs
            raise GameLoadError(f"the PDDL translator rejected game {name} (exit {exc.code})") from None
        except Exception as exc:  # noqa: BLE001 - any engine failure is a bad game file
            raise GameLoadError(f"cannot load ALFWorld game {name}: {type(exc).__name__}: {exc}") from exc
        self.admissible: list[str] = []
        self.won = False

    def reset(self) -> str:
        try:
            state = self._env.reset()
        except SystemExit as exc:
            raise GameLoadError(f"the PDDL translator rejected the game (exit {exc.code})") from None
        self.admissible = list(state["admissible_commands"])
        self.won = bool(state["won"])
        return state.feedback

    def step(self, command: str) -> str:
        state, _, _ = self._env.step(command)
        self.admissible = list(state["admissible_commands"])
        self.won = bool(state["won"])
        return state.feedback

    def facts(self):
        return live_facts(self._env.unwrapped._pddl_state)


def play_oracle_stock(game: Mapping[str, Any] | str | Path, max_steps: int = 30) -> OracleRun:
    """Play :class:`~agent_gym.alfworld.oracle.ALFWorldOracle` through ``game`` on the stock engine."""
    return play_oracle(StockGame(game), max_steps=max_steps)
