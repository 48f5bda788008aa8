"""The one policy interface: chat conversations in, generations out.

Every backend (Hugging Face, vLLM, an OpenAI-compatible server, the env's
oracle, a random agent) implements :class:`Policy`. Trainers and the rollout
engine only talk to this interface.

* :meth:`Policy.generate` is the model call: ``n`` samples per conversation.
* :meth:`Policy.act` is what the rollout engine calls once per environment
  step: one generation per conversation, and it also sees the env's latest
  ``info`` (the oracle reads ``info["expert_action"]``, the random agent reads
  ``info["available_actions"]``). Model backends ignore ``infos``.

Generated text is the raw model output (``Thought: ...\\nAction: ...``); the
rollout engine parses it with :func:`wrappers.prompting.parse_action`.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: One chat message: ``{"role": "system"|"user"|"assistant", "content": str}``.
Message = dict[str, str]
#: One conversation.
Conversation = list[Message]
#: The envs' latest ``info`` dicts, one per conversation (scripted policies read them).
Infos = Sequence[Mapping[str, Any]] | None


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters shared by all backends.

    Args:
        temperature: 0 means greedy decoding.
        top_p: nucleus sampling mass (ignored when greedy).
        max_new_tokens: cap on generated tokens per sample.
        n: samples per conversation (:meth:`Policy.generate` only; ``act`` uses 1).
        seed: makes sampling reproducible for the same batch on the same backend.
        stop: extra stop strings; the text is cut before the stop string.
        logprobs: also return generated token ids and their log-probs.
    """

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = False

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    def with_(self, **changes: Any) -> GenerationParams:
        """A copy with some fields changed."""
        return replace(self, **changes)


#: Generation settings, or ``None`` for the defaults.
Params = GenerationParams | None


@dataclass
class Generation:
    """One generated completion.

    Attributes:
        text: the decoded completion (without the end-of-turn token, cut at stop strings).
        token_ids: generated token ids, including the end-of-turn/EOS token when the
            model emitted one (this is what the loss mask of
            ``trainers.sequences`` covers); ``None`` for backends without tokens
            (oracle, random, and the OpenAI backend unless ``logprobs`` was asked).
        logprobs: ``log p(token)`` of each entry of ``token_ids`` under the model's
            unmodified distribution (temperature 1, no top-p), same length;
            only when ``GenerationParams.logprobs`` is set.
        finish_reason: ``"stop"`` (end-of-turn or stop string), ``"length"``
            (``max_new_tokens`` reached) or ``"scripted"`` (oracle/random/forced).
        prompt_tokens: number of prompt tokens (0 when unknown).
        completion_tokens: number of generated tokens reported by a backend without
            token ids (the OpenAI backend's ``usage``); ``None`` when unknown.
    """

    text: str
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int | None = None

    @property
    def num_tokens(self) -> int:
        """Generated tokens: ``len(token_ids)``, else the backend's ``completion_tokens``, else 0."""
        if self.token_ids is not None:
            return len(self.token_ids)
        return int(self.completion_tokens or 0)


class Policy(ABC):
    """Maps chat conversations to generations. Subclasses implement :meth:`generate`."""

    #: Short backend name used in reports ("hf", "vllm", "openai", "oracle", "random").
    name: str = "policy"
    #: set once a prompt was cut (:meth:`_prompts` warns once per policy)
    _warned_truncation: bool = False

    #: ``True`` for a language model: its output is a function of the prompt (and the
    #: sampling parameters), so the rollout loop counts each prompt as an LLM call and,
    #: under greedy decoding, may reuse the output of a repeated prompt. Policies that
    #: act on the env's ``info`` instead (oracle, random) set ``False``.
    is_language_model: bool = True

    @abstractmethod
    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[list[Generation]]:
        """``params.n`` generations for each conversation (outer list: one entry per conversation)."""

    def act(
        self,
        conversations: Sequence[Conversation],
        infos: Sequence[Mapping[str, Any]] | None = None,
        params: GenerationParams | None = None,
        *,
        env_id: str | None = None,
    ) -> list[Generation]:
        """One generation per conversation for the next env step.

        ``infos[i]`` is the latest ``info`` of the env behind ``conversations[i]``;
        ``env_id`` says which environment (scripted policies use it to format
        their output). Model backends ignore both. Subclasses change :meth:`_act`.
        """
        return self._act(conversations, infos, params, env_id)

    def _act(self, convs: Sequence[Conversation], infos: Infos, params: Params, env_id: str | None) -> list[Generation]:
        """:meth:`act`'s work; model backends: the first of one :meth:`generate` sample."""
        return [gens[0] for gens in self.generate(convs, (params or GenerationParams()).with_(n=1))]

    def _prompts(
        self, conversations: Sequence[Conversation], params: GenerationParams | None
    ) -> tuple[GenerationParams, list[list[int]]]:
        """The shared start of a model backend's :meth:`generate`: the params (default ones when
        ``None``), the conversations checked and encoded (:meth:`prompt_ids`), and each prompt cut
        from the left to :meth:`_prompt_limit` tokens (with one warning per policy)."""
        params = params or GenerationParams()
        check_conversations(conversations)
        prompts = [self.prompt_ids(c) for c in conversations]
        limit = self._prompt_limit(params)
        longest = max((len(p) for p in prompts), default=0)
        prompts, cut = left_truncate(prompts, limit)
        if cut and not self._warned_truncation:
            warnings.warn(f"prompt of {longest} tokens cut from the left to {limit} tokens", stacklevel=3)
            self._warned_truncation = True
        return params, prompts

    def _prompt_limit(self, params: GenerationParams) -> int | None:
        """The most prompt tokens a generation with ``params`` may see (``None``: no limit)."""
        return None

    @property
    def tokenizer(self) -> Any:
        """The backend's tokenizer (``None`` for backends without one)."""
        return None

    def prompt_ids(self, conversation: Conversation) -> list[int]:
        """Token ids the model is fed for a conversation (the chat template with generation prompt)."""
        if self.tokenizer is None:
            raise NotImplementedError(f"{type(self).__name__} has no tokenizer, so no prompt token ids")
        from trainers.sequences import prompt_ids

        return prompt_ids(self.tokenizer, conversation)

    def load_weights(self, model_or_path: Any) -> None:
        """Replace the weights in place (HGPO syncs weights after each update).

        Accepts a ``torch.nn.Module`` with the same architecture or a checkpoint
        folder. Backends without weights raise ``NotImplementedError``.
        """
        raise NotImplementedError(f"{type(self).__name__} has no weights to load")

    def close(self) -> None:  # noqa: B027  (optional hook: policies without resources keep this no-op)
        """Release backend resources (engines, HTTP sessions)."""

    def __enter__(self) -> Policy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """What to write into reports about this policy."""
        return {"backend": self.name}


def left_truncate(prompts: Sequence[list[int]], limit: int | None) -> tuple[list[list[int]], int]:
    """Cut prompts longer than ``limit`` tokens from the left (the newest turns stay); returns them and how many were cut."""
    if limit is None:
        return list(prompts), 0
    limit = max(1, limit)
    out = [p[-limit:] if len(p) > limit else p for p in prompts]
    return out, sum(len(p) > limit for p in prompts)


def check_conversations(conversations: Sequence[Conversation]) -> None:
    """Raise a clear ``ValueError`` for malformed conversation batches."""
    if isinstance(conversations, (str, dict)):
        raise ValueError("conversations must be a list of conversations (each a list of {'role','content'} dicts)")
    for i, conv in enumerate(conversations):
        if not isinstance(conv, (list, tuple)) or not conv:
            raise ValueError(f"conversation {i} must be a non-empty list of messages")
        for m in conv:
            if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                raise ValueError(f"conversation {i} has a message without 'role'/'content': {m!r}")


__all__ = [
    "Conversation",
    "Generation",
    "GenerationParams",
    "Infos",
    "Message",
    "Policy",
    "check_conversations",
    "left_truncate",
]
