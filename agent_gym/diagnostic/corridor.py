"""``Corridor-Text-v0``: a tiny deterministic diagnostic env (no benchmark engine, no data).

It exists to test the common API, the wrappers and the trainers (rollouts,
advantages, HGPO/HPL end to end) in seconds on a CPU, and to check that a
trainer learns anything at all (``scripts.experiment_hgpo``). It is not a
benchmark: its scores mean nothing outside those checks.

The task ``corridor-N``: the agent starts at cell 0 of a corridor and must
``go right`` N times and then ``stop`` (reward 1, success). ``stop`` anywhere
else ends the episode with reward 0; ``go left`` moves back (invalid at cell
0); anything else is invalid and changes nothing. There is no other reward.
``expert=True`` gives the shortest solution; ``snapshot``/``restore`` are
supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_gym.core import StepResult, TextEnv


class CorridorEnv(TextEnv):
    """Corridors ``corridor-N`` for each N in ``lengths``: reach cell N with ``go right`` and ``stop`` there.

    Args:
        lengths: the corridor lengths, one task each (ids ``corridor-N``; default 2, 3, 4).
        task_type: ``info["task_type"]`` of every task; ``{length}`` is replaced
            by the task's N, so ``"length-{length}"`` gives one type per length
            (default ``"corridor"``: one type for all tasks).
        invalid_feedback: the observation after an invalid action; ``{pos}``
            is replaced by the current cell and ``{length}`` by N (default
            ``"Nothing happens."``; e.g. ``"Nothing happens. You are at cell {pos}."``
            keeps the position visible to a policy that only sees recent turns).
        data_dir, split: accepted and ignored (there is no data), so generic
            tools that pass them (``scripts.evaluate --split``) work unchanged.
        max_episode_steps, expert, render_mode: see :class:`~agent_gym.core.TextEnv`
            (the default step limit is 12).
    """

    def __init__(
        self,
        lengths: Sequence[int] = (2, 3, 4),
        *,
        task_type: str = "corridor",
        invalid_feedback: str = "Nothing happens.",
        data_dir: Any = None,
        split: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        lengths = [int(n) for n in lengths]
        if not lengths or any(n < 0 for n in lengths):
            raise ValueError(f"lengths must be a non-empty sequence of ints >= 0, got {lengths!r}")
        self._ids = sorted({f"corridor-{n}" for n in lengths}, key=lambda t: int(t.split("-")[1]))
        self.task_type_template = str(task_type)
        self.invalid_feedback = str(invalid_feedback)
        try:  # a bad template fails here, not at the first step
            self.task_type_template.format(length=0)
            self.invalid_feedback.format(pos=0, length=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"task_type may use {{length}} and invalid_feedback {{pos}} and {{length}}: {exc!r}"
            ) from exc
        self.length = 0
        self.pos = 0

    @property
    def task_ids(self) -> list[str]:
        return self._ids

    def _obs(self) -> str:
        return f"Task: reach cell {self.length} and stop. You are at cell {self.pos}."

    def _load_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        self.length = int(task_id.split("-")[1])
        self.pos = 0
        return self._obs(), {}

    def _available_actions(self) -> list[str]:
        return (["go left"] if self.pos > 0 else []) + ["go right", "stop"]

    def _task_type(self) -> str:
        return self.task_type_template.format(length=self.length)

    def task_type_of(self, task_id: str) -> str:
        return self.task_type_template.format(length=int(self.resolve_task_id(task_id).split("-")[1]))

    def _expert_action(self) -> str:
        return "stop" if self.pos == self.length else "go right"

    def _step(self, action: str) -> StepResult:
        action = action.strip().lower()
        if action not in self._available_actions():
            text = self.invalid_feedback.format(pos=self.pos, length=self.length)
            return StepResult(text, 0.0, False, False, False)
        if action == "stop":
            won = self.pos == self.length
            return StepResult("You stop.", 1.0 if won else 0.0, True, True, won)
        self.pos += 1 if action == "go right" else -1
        return StepResult(self._obs(), 0.0, False, True, False)

    def _snapshot(self) -> Any:
        return (self.length, self.pos)

    def _restore(self, state: Any) -> None:
        self.length, self.pos = state
