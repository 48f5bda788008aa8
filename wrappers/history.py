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
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from wrappers.branching import restore as _restore_chain
from wrappers.branching import snapshot as _snapshot_chain

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


class HistoryWrapper(gym.Wrapper):
    """Record the episode and add ``info["context_hashes"]`` / ``info["context_truncated"]``.

    Args:
        env: any agent-gym env (or wrapper chain).
        max_k: number of history levels ``K``; hashes are given for ``k = 0..K``.
        include_actions: hash actions as well as observations (the reference
            HGPO code hashes observations only; set ``False`` to match it).
    """

    def __init__(self, env: gym.Env, max_k: int = 4, include_actions: bool = True):
        super().__init__(env)
        if max_k < 0:
            raise ValueError("max_k must be >= 0")
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

    def messages(self, window: int | None = None) -> list[dict[str, str]]:
        """The episode as chat messages: alternating ``user`` (observation) / ``assistant`` (action).

        ``window`` keeps the last ``window`` completed turns (``None``: all); the
        current observation is always the final ``user`` message. When turns are
        dropped, the first observation (which states the task) is kept in front.
        """
        turns = self.turns
        msgs: list[dict[str, str]] = []
        if window is not None and window < len(turns):
            kept = turns[len(turns) - window :] if window > 0 else []
            if turns:
                msgs.append({"role": "user", "content": turns[0].observation})
                msgs.append({"role": "assistant", "content": "(earlier steps omitted)"})
        else:
            kept = turns
        for turn in kept:
            msgs.append({"role": "user", "content": turn.observation})
            msgs.append({"role": "assistant", "content": turn.action})
        msgs.append({"role": "user", "content": self.current_observation})
        return msgs

    # -- branching
    def snapshot(self) -> Any:
        """State of the inner env plus this wrapper's history."""
        return (
            _snapshot_chain(self.env),
            (list(self._observations), list(self._actions), list(self._obs_d), list(self._act_d)),
        )

    def restore(self, state: Any) -> str:
        inner, (obs, acts, obs_d, act_d) = state
        result = _restore_chain(self.env, inner)
        self._observations, self._actions = list(obs), list(acts)
        self._obs_d, self._act_d = list(obs_d), list(act_d)
        return result

    def current_context_hashes(self) -> list[str]:
        """Context hashes of the current state (e.g. right after :meth:`restore`)."""
        return _window_hashes(self._obs_d, self._act_d, self.max_k)[0]
