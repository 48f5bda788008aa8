"""Policy backends behind one interface (:class:`Policy`) and a factory.

``make_policy(kind, **kw)``:

* ``"hf"``: :class:`HFPolicy` (``model=`` path or hub id, ``device=``, ``dtype=``)
* ``"vllm"``: :class:`VLLMPolicy` (imports vllm lazily)
* ``"openai"``: :class:`OpenAICompatPolicy` (``base_url=``, ``model=``, ``api_key=``)
* ``"oracle"`` / ``"random"``: scripted policies reading the env's info
"""

from __future__ import annotations

from typing import Any

from trainers.policies.base import Conversation, Generation, GenerationParams, Message, Policy
from trainers.policies.simple import OraclePolicy, RandomPolicy

POLICY_KINDS = ("hf", "vllm", "openai", "oracle", "random")


def make_policy(kind: str, **kw: Any) -> Policy:
    """Create a policy by kind name (see the module docstring for the keyword arguments)."""
    if kind == "oracle":
        return OraclePolicy(**kw)
    if kind == "random":
        return RandomPolicy(**kw)
    if kind == "hf":
        from trainers.policies.hf import HFPolicy

        return HFPolicy(**kw)
    if kind == "vllm":
        from trainers.policies.vllm import VLLMPolicy

        return VLLMPolicy(**kw)
    if kind == "openai":
        from trainers.policies.openai_compat import OpenAICompatPolicy

        return OpenAICompatPolicy(**kw)
    raise ValueError(f"unknown policy kind {kind!r}; choose one of {', '.join(POLICY_KINDS)}")


def __getattr__(name: str) -> Any:  # lazy access to the heavy backends
    if name == "HFPolicy":
        from trainers.policies.hf import HFPolicy

        return HFPolicy
    if name == "VLLMPolicy":
        from trainers.policies.vllm import VLLMPolicy

        return VLLMPolicy
    if name == "OpenAICompatPolicy":
        from trainers.policies.openai_compat import OpenAICompatPolicy

        return OpenAICompatPolicy
    raise AttributeError(name)


__all__ = [
    "POLICY_KINDS",
    "Conversation",
    "Generation",
    "GenerationParams",
    "Message",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "make_policy",
]
