"""Losses of the composite HPL objective, on precomputed log-probabilities.

All sequence log-probs are sums over the agent's tokens only (``loss_mask``
from ``trainers.sequences``: environment observations inside a multi-turn
continuation are 0), so these functions never see environment tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float = 0.3,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Standard sigmoid DPO: ``-log sigmoid(beta * ((pc - rc) - (pr - rr)))``, averaged over the batch.

    Returns ``(loss, stats)`` with the mean implicit rewards and preference accuracy.
    """
    chosen_reward = policy_chosen - ref_chosen
    rejected_reward = policy_rejected - ref_rejected
    margin = chosen_reward - rejected_reward
    loss = -F.logsigmoid(beta * margin).mean()
    stats = {
        "reward_chosen": float(beta * chosen_reward.detach().mean()),
        "reward_rejected": float(beta * rejected_reward.detach().mean()),
        "accuracy": float((margin.detach() > 0).float().mean()),
    }
    return loss, stats


def bc_loss(token_logprobs: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Behaviour cloning: mean negative log-likelihood over masked (agent) tokens.

    ``token_logprobs`` is ``[B, T-1]`` (log p of each next token) and ``loss_mask``
    the full ``[B, T]`` mask (shifted here) or an already shifted ``[B, T-1]`` one.
    """
    if loss_mask.shape[-1] == token_logprobs.shape[-1] + 1:
        loss_mask = loss_mask[:, 1:]
    mask = loss_mask.to(token_logprobs.dtype)
    n = mask.sum().clamp_min(1.0)
    return -(token_logprobs * mask).sum() / n


def composite_loss(terms: dict[str, torch.Tensor], weights: dict[str, float] | None = None) -> torch.Tensor:
    """``sum_k w_k * term_k`` (weights default to 1): L = L_BC + L_traj + L_step + L_group."""
    weights = weights or {}
    total = None
    for name, value in terms.items():
        w = float(weights.get(name, 1.0))
        if w == 0.0:
            continue
        total = w * value if total is None else total + w * value
    if total is None:
        raise ValueError("composite_loss got no terms with non-zero weight")
    return total
