"""``ALFWorld-Text-v0``: ALFWorld's text games on the real PDDL engine, fast and branchable.

    import gymnasium as gym, agent_gym
    env = gym.make("ALFWorld-Text-v0", split="valid_seen", expert=True)   # data from $ALFWORLD_DATA
    obs, info = env.reset(options={"task_id": 0})
    obs, reward, terminated, truncated, info = env.step(info["expert_action"])

See ``docs/alfworld.md`` for options, data and measured speed.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.alfworld import data as alf_data
from agent_gym.alfworld.engine import ALFWorldEngine, CompiledGame, compile_game, warm_translation_cache
from agent_gym.core import StepResult, TextEnv

#: values of ``expert_knowledge``
EXPERT_KNOWLEDGE = ("full", "observed")


@dataclass(frozen=True)
class _Snapshot:
    engine: Any
    seen: frozenset[str]


class ALFWorldTextEnv(TextEnv):
    """ALFWorld text games (official ``game.tw-pddl`` files or generated ones).

    Args:
        data_dir: root holding ``json_2.1.1/<split>/...``; default ``$ALFWORLD_DATA``;
            with neither, offline generated games (not the official splits).
        split: ``train``, ``valid_seen``, ``valid_unseen`` or ``valid_train``.
        game_files: explicit list of ``game.tw-pddl`` paths (overrides ``data_dir``/``split``).
        max_episode_steps: step limit (truncation), default 30.
        expert: add ``info["expert_action"]`` from the fact-reading oracle.
        generated_games: with no ``data_dir`` and no ``$ALFWORLD_DATA``: how many games the
            generated split holds (default: 300 for ``train``, 60 for the others; balanced over
            the six task types, made once and cached).
        expert_knowledge: what that oracle may use. ``"full"`` (default): the whole
            state, so it walks straight to the hidden objects (like ALFWorld's planner
            expert). ``"observed"``: only what the agent has seen so far (receptacles it
            went to or opened); it searches the receptacles that can hold a needed
            object in name order, so its demonstrations can be imitated from the
            observations alone (closer to ALFWorld's handcoded expert).
        render_mode: ``None`` or ``"ansi"``.
        cache_size: how many compiled games this instance keeps in memory (LRU).
        use_disk_cache: keep the PDDL translator output under
            ``agent_gym.paths.cache_dir("alfworld")`` (``$AGENT_GYM_CACHE``).

    Observations and admissible commands are exactly those of alfworld 0.4.2's
    textworld engine; a command that is not admissible returns
    ``"Nothing happens."`` with ``info["action_valid"] = False``; the admissible
    commands are ``info["available_actions"]``. Extra info key: ``won``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        split: str = "valid_seen",
        game_files: Sequence[str | os.PathLike] | None = None,
        max_episode_steps: int | None | str = "default",
        expert: bool = False,
        render_mode: str | None = None,
        cache_size: int = 16,
        use_disk_cache: bool = True,
        expert_knowledge: str = "full",
        generated_games: int | None = None,
    ) -> None:
        super().__init__(max_episode_steps=max_episode_steps, expert=expert, render_mode=render_mode)
        if expert_knowledge not in EXPERT_KNOWLEDGE:
            raise ValueError(f"expert_knowledge must be one of {EXPERT_KNOWLEDGE}, got {expert_knowledge!r}")
        self.expert_knowledge = expert_knowledge
        #: receptacle ids (as in the game's PDDL problem) whose contents the agent has observed
        self.seen_receptacles: frozenset[str] = frozenset()
        self._id_case: dict[str, str] = {}
        if split not in alf_data.SPLITS:
            raise ValueError(f"unknown ALFWorld split {split!r}; use one of {', '.join(alf_data.SPLITS)}")
        if cache_size < 1:
            raise ValueError("cache_size must be >= 1")
        self.split = split
        self.cache_size = int(cache_size)
        self.use_disk_cache = bool(use_disk_cache)
        self.generated = False
        if game_files is not None:
            self.data_root: Path | None = None
            self._games = alf_data.ids_for_files(game_files)
        else:
            root = Path(data_dir).expanduser() if data_dir is not None else alf_data.env_data_root()
            if root is None:
                from agent_gym.alfworld.generator import ensure_generated

                root = Path(ensure_generated(split, generated_games))
                self.generated = True
            elif generated_games is not None:
                raise ValueError(
                    f"generated_games={generated_games} applies to generated games only, but the games "
                    f"come from {root} (data_dir or $ALFWORLD_DATA); drop one of the two"
                )
            self.data_root = root
            self._games = alf_data.list_games(alf_data.split_dir(root, split))
        self._task_ids = list(self._games)
        self._compiled: OrderedDict[str, CompiledGame] = OrderedDict()
        self._oracles: dict[str, Any] = {}
        self._engine: ALFWorldEngine | None = None
        self._game: CompiledGame | None = None

    # ------------------------------------------------------------------ tasks
    @property
    def task_ids(self) -> list[str]:
        """Game folders relative to the split folder, sorted."""
        return self._task_ids

    def game_file(self, task_id: Any) -> Path:
        """The ``game.tw-pddl`` path of a task (id or index)."""
        return self._games[self.resolve_task_id(task_id)]

    def compiled_game(self, task_id: str) -> CompiledGame:
        """The compiled game of a task, through this instance's LRU cache."""
        game = self._compiled.get(task_id)
        if game is not None:
            self._compiled.move_to_end(task_id)
            return game
        game = compile_game(self._games[task_id], use_cache=self.use_disk_cache)
        self._compiled[task_id] = game
        while len(self._compiled) > self.cache_size:
            old, _ = self._compiled.popitem(last=False)
            self._oracles.pop(old, None)
        return game

    def warm_cache(
        self, task_ids: Sequence[Any] | None = None, workers: int | None = None, progress: bool = True
    ) -> dict[str, str]:
        """Translate the split's games (or ``task_ids``) into the disk cache in parallel processes.

        Makes every later first play of those games fast (~0.1 s instead of
        1-2 s). Returns ``{game file: error}`` for games that failed.
        """
        if not self.use_disk_cache:
            return {}
        ids = self._task_ids if task_ids is None else [self.resolve_task_id(t) for t in task_ids]
        return warm_translation_cache([self._games[t] for t in ids], workers=workers, progress=progress)

    @property
    def engine(self) -> ALFWorldEngine:
        """The engine playing the current game (created on first use)."""
        if self._engine is None:
            self._engine = ALFWorldEngine()
        return self._engine

    # ------------------------------------------------------------------ TextEnv hooks
    def _load_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        self._game = self.compiled_game(task_id)
        self.engine.load(self._game)
        obs = self.engine.reset()
        self.seen_receptacles = frozenset()
        self._id_case = {}
        return obs, {"won": self.engine.won}

    def _step(self, action: str) -> StepResult:
        feedback, reward, done = self.engine.step(action)
        if self.engine.last_operator is not None and self.expert_knowledge == "observed":
            self._note_seen(self.engine.last_operator)
        won = self.engine.won
        return StepResult(
            observation=feedback,
            reward=reward,
            terminated=done,
            action_valid=self.engine.last_action_valid,
            success=won,
            info={"won": won},
        )

    def _available_actions(self) -> list[str]:
        return self.engine.admissible_commands

    def task_type_of(self, task_id: str) -> str:
        """The type named by the task id's folder (``""`` outside the official layout)."""
        return alf_data.task_type_of(task_id) or ""

    def _task_type(self) -> str:
        task_id = self.current_task_id or ""
        found = alf_data.task_type_of(task_id)
        if found is None:  # not the official folder layout: read the goal
            try:
                found = self._oracle().task_type
            except Exception:  # noqa: BLE001 - a goal outside the six types
                found = "unknown"
        return found

    def _oracle(self) -> Any:
        task_id, game = self.current_task_id, self._game
        assert task_id is not None and game is not None, "reset() the env first"
        oracle = self._oracles.get(task_id)
        if oracle is None:
            from agent_gym.alfworld.oracle import ALFWorldOracle

            oracle = ALFWorldOracle(game.data)
            self._oracles[task_id] = oracle
        return oracle

    def _expert_action(self) -> str | None:
        from agent_gym.alfworld.facts import live_facts

        seen = self.seen_receptacles if self.expert_knowledge == "observed" else None
        return self._oracle().next_action(live_facts(self.engine.facts), self.engine.admissible_commands, seen=seen)

    def _note_seen(self, operator: str) -> None:
        """Add the receptacle a ``gotolocation``/``openobject`` operator showed the agent to ``seen_receptacles``."""
        from agent_gym.alfworld.facts import live_facts

        parts = operator.split()
        if parts[0] not in ("gotolocation", "openobject"):
            return
        facts = live_facts(self.engine.facts)
        if not self._id_case:
            self._id_case = {a.lower(): a for _, args in facts for a in args}
        rec = self._id_case.get(parts[-1], parts[-1])
        if parts[0] == "gotolocation" and ("openable", (rec,)) in facts and ("opened", (rec,)) not in facts:
            return  # arrived at a closed receptacle: its contents are not shown
        self.seen_receptacles = self.seen_receptacles | {rec}

    def _snapshot(self) -> Any:
        return _Snapshot(self.engine.snapshot(), self.seen_receptacles)

    def _restore(self, state: Any) -> None:
        self._game = state.engine.game
        self.engine.restore(state.engine)
        self.seen_receptacles = state.seen

    def _close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self._compiled.clear()
        self._oracles.clear()
