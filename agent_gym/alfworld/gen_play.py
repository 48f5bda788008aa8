"""Play the fact-reading oracle through one game, on the fast engine or any engine with the same interface.

A *game runner* has ``game`` (the parsed ``game.tw-pddl`` dict), ``reset() -> str``,
``step(command) -> str``, ``facts()`` (live facts, see :mod:`agent_gym.alfworld.facts`),
``admissible`` and ``won``. :class:`FastGame` runs agent-gym's fast engine;
:class:`agent_gym.alfworld.gen_stock.StockGame` runs the stock textworld engine.
The generator verifies its games with :func:`play_oracle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent_gym.alfworld.facts import Fact, live_facts
from agent_gym.alfworld.oracle import ALFWorldOracle


@dataclass
class OracleRun:
    """The outcome of playing the oracle through one game."""

    won: bool
    steps: int
    actions: list[str] = field(default_factory=list)
    intro: str = ""


class GameRunner(Protocol):
    """What :func:`play_oracle` needs from an engine."""

    game: dict[str, Any]
    admissible: list[str]
    won: bool

    def reset(self) -> str: ...

    def step(self, command: str) -> str: ...

    def facts(self) -> frozenset[Fact]: ...


class FastGame:
    """One game on agent-gym's fast engine (:mod:`agent_gym.alfworld.engine`), with :class:`GameRunner`'s interface.

    Raises :class:`agent_gym.errors.MissingDependencyError` (an ``ImportError``) when
    textworld / fast-downward are not installed, :class:`agent_gym.errors.GameLoadError`
    for a game the engine cannot load. Call :meth:`close` to hand the planner back.
    """

    def __init__(self, game: Mapping[str, Any] | str | Path, use_cache: bool = True):
        from agent_gym.alfworld.engine import ALFWorldEngine, compile_game

        compiled = compile_game(game if isinstance(game, Mapping) else str(game), use_cache=use_cache)
        self.game: dict[str, Any] = compiled.data
        self._engine = ALFWorldEngine()
        self._engine.load(compiled)
        self.admissible: list[str] = []
        self.won = False

    def _update(self) -> None:
        self.admissible = self._engine.admissible_commands
        self.won = self._engine.won

    def reset(self) -> str:
        obs = self._engine.reset()
        self._update()
        return obs

    def step(self, command: str) -> str:
        feedback, _, _ = self._engine.step(command)
        self._update()
        return feedback

    def facts(self) -> frozenset[Fact]:
        return live_facts(self._engine.facts)

    def close(self) -> None:
        self._engine.close()


def play_oracle(runner: GameRunner, max_steps: int = 30) -> OracleRun:
    """Play :class:`ALFWorldOracle` (full knowledge) through ``runner`` from a reset, for at most ``max_steps``."""
    oracle = ALFWorldOracle(runner.game)
    intro = runner.reset()
    run = OracleRun(won=runner.won, steps=0, intro=intro)
    while not runner.won and run.steps < max_steps:
        action = oracle.next_action(runner.facts(), runner.admissible)
        run.actions.append(action)
        runner.step(action)
        run.steps += 1
    run.won = runner.won
    return run
