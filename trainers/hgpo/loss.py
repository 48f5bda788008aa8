"""PPO-clip token-level policy loss with a k3 KL penalty to a frozen reference.

All tensors are ``[B, T]`` token tensors aligned with
``trainers.sequences.token_logprobs`` (position ``t`` scores token ``t + 1``).
The loss is summed over masked tokens and divided by ``denom`` (the number of
loss tokens of the whole mini batch), so gradient accumulation over micro
batches gives the exact token mean of the mini batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Low-variance estimator of KL(pi || ref) per token: ``exp(r) - r - 1`` with ``r = ref - logp``.

    Always >= 0; the log-ratio is clamped to [-20, 20] for numerical safety.
    """
    r = torch.clamp(ref_logp - logp, -20.0, 20.0)
    return torch.exp(r) - r - 1.0


@dataclass
class LossParts:
    """The loss to backpropagate and detached statistics (sums over masked tokens)."""

    loss: torch.Tensor
    pg_sum: float
    kl_sum: float
    clipped_tokens: float
    approx_kl_sum: float
    tokens: float


def ppo_clip_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    clip_low: float = 0.2,
    clip_high: float = 0.2,
    denom: float | None = None,
) -> LossParts:
    """PPO-clip loss on the masked tokens.

    Args:
        logp: current log-probs ``[B, T]`` (with grad).
        old_logp: log-probs of the sampling policy ``[B, T]``.
        advantages: ``[B]`` (one per step sample; every token of the step gets it) or ``[B, T]``.
        mask: ``[B, T]`` 1 on the agent's tokens.
        ref_logp: reference log-probs for the KL term (needed when ``kl_coef > 0``).
        denom: divide the summed token losses by this (default: number of masked tokens).
    """
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype)
    if adv.dim() == 1:
        adv = adv[:, None].expand_as(logp)
    log_ratio = logp - old_logp.detach()
    ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    pg = torch.maximum(unclipped, clipped)
    per_token = pg
    kl = torch.zeros_like(logp)
    if kl_coef > 0:
        if ref_logp is None:
            raise ValueError("kl_coef > 0 needs ref_logp")
        kl = k3_kl(logp, ref_logp.detach())
        per_token = per_token + kl_coef * kl
    n_tokens = float(mask.sum().item())
    d = float(denom) if denom is not None else max(n_tokens, 1.0)
    loss = (per_token * mask).sum() / d
    with torch.no_grad():
        was_clipped = (clipped > unclipped).to(logp.dtype) * mask
        return LossParts(
            loss=loss,
            pg_sum=float((pg * mask).sum()),
            kl_sum=float((kl * mask).sum()),
            clipped_tokens=float(was_clipped.sum()),
            approx_kl_sum=float(((-log_ratio) * mask).sum()),
            tokens=n_tokens,
        )


__all__ = ["LossParts", "k3_kl", "ppo_clip_loss"]
