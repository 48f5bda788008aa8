"""A tiny deterministic TextEnv for testing the common API, wrappers and trainers without a benchmark.

The agent walks a corridor of ``length`` cells and must ``go right`` to the end
and then ``stop``. ``go left`` moves back; anything else is invalid.
"""

from __future__ import annotations

from typing import Any

from agent_gym.core import StepResult, TextEnv


class CorridorEnv(TextEnv):
    default_max_episode_steps = 12

    def __init__(self, lengths: tuple[int, ...] = (2, 3, 4), **kwargs: Any):
        super().__init__(**kwargs)
        self._ids = [f"corridor-{n}" for n in lengths]
        self.pos = 0
        self.length = 0

    @property
    def task_ids(self) -> list[str]:
        return self._ids

    def _obs(self) -> str:
        return f"Task: reach cell {self.length} and stop. You are at cell {self.pos}."

    def _load_task(self, task_id: str):
        self.length = int(task_id.split("-")[1])
        self.pos = 0
        return self._obs(), {}

    def _available_actions(self) -> list[str]:
        acts = ["go right", "stop"]
        if self.pos > 0:
            acts.insert(0, "go left")
        return acts

    def _task_type(self) -> str:
        return "corridor"

    def _expert_action(self) -> str:
        return "stop" if self.pos == self.length else "go right"

    def _step(self, action: str) -> StepResult:
        action = action.strip().lower()
        if action not in self._available_actions():
            return StepResult("Nothing happens.", 0.0, False, False, False)
        if action == "stop":
            won = self.pos == self.length
            return StepResult("You stop.", 1.0 if won else 0.0, True, True, won)
        self.pos += 1 if action == "go right" else -1
        return StepResult(self._obs(), 0.0, False, True, False)

    def _snapshot(self) -> Any:
        return (self.length, self.pos)

    def _restore(self, state: Any) -> None:
        self.length, self.pos = state
