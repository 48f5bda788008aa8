"""Behaviour shared by the text and browser WebShop envs.

Subclasses only move between pages (:meth:`_open`, :meth:`_submit_search`,
:meth:`_click`, :meth:`_current_url`); parsing, actions, rewards, the expert and
snapshots live here, which is why both envs act and score identically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent_gym.core import StepResult, TextEnv
from agent_gym.errors import InvalidTaskError
from agent_gym.webshop import render
from agent_gym.webshop.actions import ActionError, parse_action
from agent_gym.webshop.app import create_app
from agent_gym.webshop.expert import expert_action
from agent_gym.webshop.goals import Goal, split_range
from agent_gym.webshop.render import Clickable, Page
from agent_gym.webshop.reward import warn_heuristic_nouns
from agent_gym.webshop.shop import load_shop

OBSERVATION_MODES = ("text", "text_rich", "html")


class WebShopEnvBase(TextEnv):
    """WebShop as a :class:`~agent_gym.core.TextEnv` (see ``docs/webshop.md``).

    Args:
        data_dir: folder with official WebShop files (``items_shuffle*.json``,
            ``items_ins_v2*.json``, optional ``items_human_ins*.json`` and
            ``human_goals.json``); ``None`` uses the generated catalog.
        split: ``test`` (goals 0-499), ``dev`` (500-1499), ``train`` (1500-) or ``all``.
        observation_mode: ``text`` ([SEP]-joined), ``text_rich`` (button markers) or ``html``.
        max_episode_steps: step limit (default 10; ``None`` when a ``TimeLimit`` wrapper owns it, as in ``gym.make``).
        expert: add ``info["expert_action"]``.
        num_products: generated catalog size (default 1000), or a cap on official products.
        seed: generated catalog seed.
        max_sessions: bound on the app's session store.
        fix_dict_options: score dict goal options (official synthetic goals) by value instead of the
            official ``(name, value)`` pairs (default ``False``: the published environment's reward).
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        split: str = "test",
        observation_mode: str = "text",
        max_episode_steps: int | None | str = "default",
        expert: bool = False,
        num_products: int | None = None,
        seed: int = 0,
        max_sessions: int = 1000,
        render_mode: str | None = None,
        fix_dict_options: bool = False,
    ) -> None:
        super().__init__(max_episode_steps=max_episode_steps, expert=expert, render_mode=render_mode)
        if observation_mode not in OBSERVATION_MODES:
            raise ValueError(f"observation_mode must be one of {OBSERVATION_MODES}, got {observation_mode!r}")
        self.observation_mode = observation_mode
        self.shop = load_shop(data_dir, num_products, seed)
        if data_dir is not None:
            warn_heuristic_nouns()
        self.split = split
        self._task_ids = [str(i) for i in split_range(split, len(self.shop.goals))]
        if not self._task_ids:
            raise InvalidTaskError(
                f"split {split!r} is empty for this catalog ({len(self.shop.goals)} goals); "
                "use split='all' or a bigger catalog (num_products=...)"
            )
        self.app = create_app(self.shop, max_sessions=max_sessions, fix_dict_options=fix_dict_options)
        self.sessions = self.app.config["SESSIONS"]
        self._page: Page | None = None
        self._html = ""
        self._session = ""
        self._goal: Goal | None = None

    # ------------------------------------------------------------ transport hooks
    def _open(self, url: str) -> str:
        """Load a shop URL (path + query) and return the page HTML."""
        raise NotImplementedError

    def _submit_search(self, keywords: str) -> str:
        raise NotImplementedError

    def _click(self, clickable: Clickable) -> str:
        raise NotImplementedError

    def _current_url(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------ TextEnv hooks
    @property
    def task_ids(self) -> list[str]:
        return self._task_ids

    @property
    def goal(self) -> Goal | None:
        """The current :class:`~agent_gym.webshop.goals.Goal`."""
        return self._goal

    def _observation(self) -> str:
        assert self._page is not None
        if self.observation_mode == "html":
            return self._html
        return self._page.text if self.observation_mode == "text" else self._page.text_rich

    def _show(self, html: str) -> Page:
        """Make ``html`` the current page; returns it parsed."""
        self._html = html
        self._page = page = render.parse_page(html)
        return page

    def _load_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        index = int(task_id)
        self._goal = goal = self.shop.goal(index)
        self._session = f"fixed_{index}"
        self.sessions.set_result(self._session, None)
        self._show(self._open(render.url("/", session=self._session)))
        return self._observation(), {"instruction": goal.instruction_text}

    def _invalid(self, message: str) -> StepResult:
        obs = f"Invalid action: {message}\n{self._observation()}"
        return StepResult(obs, 0.0, False, False, False, {"error": message})

    def _step(self, action: str) -> StepResult:
        page = self._page
        assert page is not None
        try:
            act = parse_action(action)
        except ActionError as exc:
            return self._invalid(str(exc))
        if act.kind == "search":
            if not page.has_search_bar:
                return self._invalid("there is no search bar on this page; use click[back to search] first")
            html = self._submit_search(act.arg)
        else:
            target = page.find(act.arg)
            if target is None:
                shown = act.arg if len(act.arg) <= 60 else act.arg[:60] + "..."
                return self._invalid(
                    f"there is no button {shown!r} on this page; clickable: {render.describe(render.labels(page))}"
                )
            html = self._click(target)
        if self._show(html).kind == "done":
            state = self.sessions.peek(self._session)
            result = dict(state.result) if state and state.result else {"reward": 0.0}
            reward = float(result["reward"])
            return StepResult(
                self._observation(), reward, True, True, reward >= 1.0 - 1e-9, {"reward_components": result}
            )
        return StepResult(self._observation(), 0.0, False, True, False, None)

    def _available_actions(self) -> list[str]:
        return render.available_actions(self._page) if self._page is not None else []

    def _task_type(self) -> str:
        return self._goal.category if self._goal is not None else ""

    def _expert_action(self) -> str | None:
        assert self._goal is not None and self._page is not None, "reset() the env first"
        return expert_action(self.shop, self._goal, self._page)

    def _snapshot(self) -> Any:
        state = self.sessions.peek(self._session)
        return (self._current_url(), dict(state.result) if state and state.result else None)

    def _restore(self, state: Any) -> None:
        url, result = state
        self._show(self._open(url))
        self.sessions.set_result(self._session, result)
