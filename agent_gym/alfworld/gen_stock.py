"""Play a game on the stock textworld PDDL engine (slow, reference behaviour).

Used to check the oracle and generated games against the unmodified engine:
textworld's ``PddlEnv`` wrapped in alfworld's ``AlfredDemangler`` (the names
``cabinet 3``...), exactly how alfworld's own ``AlfredTWEnv`` plays games.
Loading takes seconds and a step ~0.2 s; prefer the fast env for bulk work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from agent_gym.alfworld.facts import live_facts
from agent_gym.alfworld.oracle import ALFWorldOracle
from agent_gym.errors import GameLoadError, require


@dataclass
class OracleRun:
    """The outcome of playing the oracle through one game."""

    won: bool
    steps: int
    actions: list[str] = field(default_factory=list)
    intro: str = ""


class StockGame:
    """One game on the stock engine: ``reset()``, ``step(cmd)``, ``facts()``, ``admissible``."""

    def __init__(self, game: Mapping[str, Any] | str | Path):
        require("textworld", "alfworld")
        import textworld
        from textworld.envs.pddl import PddlEnv
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler

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
    """Play :class:`ALFWorldOracle` through ``game`` on the stock engine."""
    sg = StockGame(game)
    oracle = ALFWorldOracle(sg.game)
    intro = sg.reset()
    run = OracleRun(won=sg.won, steps=0, intro=intro)
    while not sg.won and run.steps < max_steps:
        action = oracle.next_action(sg.facts(), sg.admissible)
        run.actions.append(action)
        sg.step(action)
        run.steps += 1
    run.won = sg.won
    return run
