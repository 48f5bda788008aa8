"""Scripted policies that need no model: ``oracle`` (the env's expert) and ``random``."""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence
from typing import Any

from trainers.policies.base import Conversation, Generation, GenerationParams, Infos, Params, Policy
from wrappers.prompting import format_response


class ScriptedPolicy(Policy):
    """Base of policies that choose actions from ``info``; output is a formatted ``Thought/Action`` text."""

    is_language_model = False  # acts on info, not on the prompt: no LLM calls, nothing to reuse

    def __init__(self, env_id: str | None = None):
        self.env_id = env_id

    def _choose(self, info: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def _act(self, convs: Sequence[Conversation], infos: Infos, params: Params, env_id: str | None) -> list[Generation]:
        if infos is None or len(infos) != len(convs):
            raise ValueError(f"{self.name} policy needs the env's info for every conversation (pass infos=...)")
        env_id = env_id or self.env_id or ""
        return [
            Generation(text=format_response(env_id, self._choose(info)), finish_reason="scripted") for info in infos
        ]

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[list[Generation]]:
        raise NotImplementedError(
            f"the {self.name} policy acts on env infos, not on text: call act(conversations, infos, env_id=...)"
        )


class OraclePolicy(ScriptedPolicy):
    """Plays ``info["expert_action"]``; the env must be made with ``expert=True``."""

    name = "oracle"

    def _choose(self, info: Mapping[str, Any]) -> str:
        if "expert_action" not in info:
            raise ValueError("the oracle policy needs info['expert_action']: make the env with expert=True")
        action = info["expert_action"]
        if action is None:
            raise ValueError(f"the env has no expert action for task {info.get('task_id')!r} at this state")
        return str(action)


class RandomPolicy(ScriptedPolicy):
    """Picks uniformly from ``info["available_actions"]`` with its own seeded RNG.

    A templated action such as WebShop's ``search[...]`` gets ``info["instruction"]``
    as its argument when the env provides one (otherwise it is played as listed).
    """

    name = "random"

    def __init__(self, env_id: str | None = None, seed: int | None = 0):
        super().__init__(env_id)
        self.rng = _random.Random(seed)

    def _choose(self, info: Mapping[str, Any]) -> str:
        actions = list(info.get("available_actions") or [])
        if not actions:
            raise ValueError(
                f"the random policy needs info['available_actions'], which is empty for task {info.get('task_id')!r}"
            )
        action = actions[self.rng.randrange(len(actions))]
        if action.endswith("[...]") and info.get("instruction"):
            action = f"{action[:-5]}[{info['instruction']}]"
        return action
