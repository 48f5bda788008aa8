"""Episode history with context hashes (the grouping keys of GiGPO/HGPO).

:class:`HistoryWrapper` records the episode as (observation, action) turns and
adds ``info["context_hashes"]``: ``K + 1`` hex digests where entry ``k`` hashes
the current observation plus the ``k`` preceding (observation, action) pairs
(``k = 0``: the bare current observation, GiGPO's anchor state).

Windows that would reach before the episode start hash the whole (shorter)
history together with a start-of-episode marker, and
``info["context_truncated"][k]`` is ``True`` for them. Two steps therefore share
a level-``k`` hash exactly when they share the same last ``k`` turns, or, near
the start, the same entire history.

:meth:`HistoryWrapper.messages` renders the recorded history as a prompt with
:func:`wrappers.prompting.render_messages`, the renderer the rollouts use.
The wrapper records its constructor arguments, so ``gym.make(env.spec)``
rebuilds the whole chain, this wrapper included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from wrappers.branching import restore as _restore_chain
from wrappers.branching import snapshot as _snapshot_chain
from wrappers.prompting import PromptConfig, render_messages

DIGEST_SIZE = 16  # bytes; hex digests are 32 characters


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=DIGEST_SIZE).digest()


_START = hashlib.blake2b(b"<episode-start>", digest_size=DIGEST_SIZE).digest()


def context_hashes(
    observations: list[str], actions: list[str], max_k: int, include_actions: bool = True
) -> tuple[list[str], list[bool]]:
    """Hashes for the last observation given the episode so far.

    ``observations`` has one more entry than ``actions`` (the current one).
    Returns ``(hashes, truncated)``, each of length ``max_k + 1``. This is the one
    context-hash function of the project; the wrapper calls it incrementally.
    """
    if len(observations) != len(actions) + 1:
        raise ValueError("observations must have exactly one more entry than actions")
    obs_d = [_digest(o) for o in observations]
    act_d = [_digest(a) for a in actions] if include_actions else [b""] * len(actions)
    return _window_hashes(obs_d, act_d, max_k)


def _window_hashes(obs_d: list[bytes], act_d: list[bytes], max_k: int) -> tuple[list[str], list[bool]]:
    t = len(act_d)  # number of completed turns before the current observation
    hashes: list[str] = []
    truncated: list[bool] = []
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    h.update(obs_d[t])
    for k in range(max_k + 1):
        if k > 0 and k <= t:
            # prepend turn t-k: we hash newest-first so each level extends the previous one
            h.update(act_d[t - k])
            h.update(obs_d[t - k])
        if k > t:
            final = h.copy()
            final.update(_START)
            hashes.append(final.hexdigest())
            truncated.append(True)
        else:
            hashes.append(h.copy().hexdigest())
            truncated.append(False)
    return hashes, truncated


@dataclass(frozen=True)
class Turn:
    """One completed turn: the observation the agent saw and the action it took."""

    observation: str
    action: str


class HistoryWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Record the episode and add ``info["context_hashes"]`` / ``info["context_truncated"]``.

    Args:
        env: any agent-gym env (or wrapper chain).
        max_k: number of history levels ``K``; hashes are given for ``k = 0..K``.
        include_actions: hash actions as well as observations (the reference
            HGPO code hashes observations only; set ``False`` to match it).
    """

    def __init__(self, env: gym.Env, max_k: int = 4, include_actions: bool = True):
        if max_k < 0:
            raise ValueError(f"max_k must be >= 0, got {max_k}")
        gym.utils.RecordConstructorArgs.__init__(self, max_k=max_k, include_actions=include_actions)
        gym.Wrapper.__init__(self, env)
        self.max_k = int(max_k)
        self.include_actions = include_actions
        self._observations: list[str] = []
        self._actions: list[str] = []
        self._obs_d: list[bytes] = []
        self._act_d: list[bytes] = []

    # -- recording
    def _add_hashes(self, info: dict[str, Any]) -> dict[str, Any]:
        hashes, truncated = _window_hashes(self._obs_d, self._act_d, self.max_k)
        info = dict(info)
        info["context_hashes"] = hashes
        info["context_truncated"] = truncated
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._observations = [obs]
        self._actions = []
        self._obs_d = [_digest(obs)]
        self._act_d = []
        return obs, self._add_hashes(info)

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._actions.append(action)
        self._act_d.append(_digest(action) if self.include_actions else b"")
        self._observations.append(obs)
        self._obs_d.append(_digest(obs))
        return obs, reward, terminated, truncated, self._add_hashes(info)

    # -- access
    @property
    def turns(self) -> list[Turn]:
        """Completed (observation, action) turns of the episode, oldest first."""
        return [Turn(o, a) for o, a in zip(self._observations, self._actions)]

    @property
    def current_observation(self) -> str:
        return self._observations[-1] if self._observations else ""

    @property
    def observations(self) -> list[str]:
        return list(self._observations)

    @property
    def actions(self) -> list[str]:
        return list(self._actions)

    def messages(
        self, config: PromptConfig | None = None, responses: Sequence[str] | None = None
    ) -> list[dict[str, str]]:
        """The recorded episode as the prompt for the next step, rendered by :func:`wrappers.prompting.render_messages`.

        Args:
            config: prompt options (default: ``PromptConfig(history_window=max_k)``,
                the turns the deepest context hash covers).
            responses: the policy's raw outputs behind the recorded actions, one per
                action, as assistant messages (default: the actions themselves).

        The env id (instruction text, observation cleaning) is ``env.spec.id``
        (``""``, the generic prompt, for an env made without ``gym.make``).
        """
        cfg = config if config is not None else PromptConfig(history_window=self.max_k)
        outputs = self._actions if responses is None else list(responses)
        if len(outputs) != len(self._actions):
            raise ValueError(f"responses has {len(outputs)} entries but the episode has {len(self._actions)} actions")
        env_id = self.spec.id if self.spec is not None else ""
        return render_messages(env_id, self._observations, outputs, cfg)

    # -- branching
    def snapshot(self) -> Any:
        """State of the inner env plus this wrapper's history."""
        return (
            _snapshot_chain(self.env),
            (list(self._observations), list(self._actions), list(self._obs_d), list(self._act_d)),
        )

    def restore(self, state: Any) -> tuple[Any, dict[str, Any]]:
        """Return to a :meth:`snapshot`; returns ``(observation, info)`` of that state, context hashes included."""
        inner, (obs, acts, obs_d, act_d) = state
        observation, info = _restore_chain(self.env, inner)
        self._observations, self._actions = list(obs), list(acts)
        self._obs_d, self._act_d = list(obs_d), list(act_d)
        return observation, self._add_hashes(info)

    def current_context_hashes(self) -> list[str]:
        """Context hashes of the current state (e.g. right after :meth:`restore`)."""
        return _window_hashes(self._obs_d, self._act_d, self.max_k)[0]
