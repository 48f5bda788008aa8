"""Pure parts of the HPL trainer: segmenters, curriculum, losses (no model, no env)."""

from __future__ import annotations

import json
import logging
import math

import pytest
import torch

from trainers.hpl.curriculum import (
    bucket_counts,
    bucket_of,
    length_thresholds,
    phase_buckets,
    save_heatmap,
    select_phase,
)
from trainers.hpl.losses import bc_loss, composite_loss, dpo_loss
from trainers.hpl.segmenters import (
    FixedKSegmenter,
    FixedNSegmenter,
    SemanticSegmenter,
    UncertaintySegmenter,
    make_segmenter,
    parse_semantic_answer,
    validate_segments,
)

ACTIONS = [f"a{i}" for i in range(8)]


# ----------------------------------------------------------------- segmenters
def test_fixed_n_default_three_groups():
    assert FixedNSegmenter().segment(ACTIONS) == [(0, 3), (3, 6), (6, 8)]
    assert FixedNSegmenter(n=4).segment(ACTIONS) == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert FixedNSegmenter().segment(ACTIONS[:2]) == [(0, 1), (1, 2)]  # never empty groups
    assert FixedNSegmenter().segment([]) == []


def test_fixed_k_default_three_steps():
    assert FixedKSegmenter().segment(ACTIONS) == [(0, 3), (3, 6), (6, 8)]
    assert FixedKSegmenter(k=5).segment(ACTIONS) == [(0, 5), (5, 8)]
    assert FixedKSegmenter(k=1).segment(ACTIONS[:3]) == [(0, 1), (1, 2), (2, 3)]


def test_uncertainty_threshold_is_80th_percentile_and_boundaries_before_high_entropy():
    train = [float(x) for x in range(1, 11)]  # 1..10 -> 80th percentile = 8.2
    seg = UncertaintySegmenter().fit(train)
    assert seg.threshold == pytest.approx(8.2)
    ent = [9.0, 1.0, 1.0, 9.0, 2.0, 8.3, 8.2, 1.0]  # step 0 never opens a new group
    assert seg.segment(ACTIONS, entropies=ent) == [(0, 3), (3, 5), (5, 8)]
    with pytest.raises(ValueError, match="one entropy per step"):
        seg.segment(ACTIONS, entropies=ent[:3])
    with pytest.raises(ValueError, match="fit"):
        UncertaintySegmenter().segment(ACTIONS, entropies=ent)


def test_validate_segments_rejects_gaps_overlaps_and_short_cover():
    assert validate_segments([[0, 2], [2, 4]], 4) == [(0, 2), (2, 4)]
    for bad in ([[0, 2], [3, 4]], [[0, 2], [1, 4]], [[0, 2]], [[0, 0], [0, 4]]):
        with pytest.raises(ValueError):
            validate_segments(bad, 4)


def test_parse_semantic_answer_inclusive_pairs_with_prose():
    text = "Sure!\n```json\n[[0, 2], [3, 5], [6, 7]]\n```"
    assert parse_semantic_answer(text, 8) == [(0, 3), (3, 6), (6, 8)]
    for bad in ("no json here", "[[0, 2], [4, 7]]", "[[0, 2], [3, 9]]", '[["0", 7]]'):
        with pytest.raises(ValueError):
            parse_semantic_answer(bad, 8)


class FakeLLM:
    """Returns the scripted answers in order and records the prompts."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.prompts = []

    def __call__(self, messages):
        self.prompts.append(messages)
        return self.answers.pop(0)


def test_semantic_segmenter_good_json():
    llm = FakeLLM([json.dumps([[0, 3], [4, 7]])])
    seg = SemanticSegmenter(generate=llm)
    assert seg.segment(ACTIONS, task="put a mug on the desk") == [(0, 4), (4, 8)]
    assert llm.prompts[0][-1]["content"].count("\n") >= len(ACTIONS)
    assert "put a mug on the desk" in llm.prompts[0][-1]["content"]
    assert seg.calls == 1 and seg.fallbacks == 0


def test_semantic_segmenter_retries_with_feedback_then_succeeds():
    llm = FakeLLM(["I think [[0, 9]]", "[[0, 1], [2, 7]]"])
    seg = SemanticSegmenter(generate=llm, retries=2)
    assert seg.segment(ACTIONS) == [(0, 2), (2, 8)]
    assert seg.calls == 2
    assert "invalid" in llm.prompts[1][-1]["content"]


def test_semantic_segmenter_falls_back_to_fixed_k_with_warning(caplog):
    llm = FakeLLM(["nonsense"] * 3)
    seg = SemanticSegmenter(generate=llm, retries=2, fallback_k=3)
    with caplog.at_level(logging.WARNING, logger="trainers.hpl.segmenters"):
        assert seg.segment(ACTIONS) == FixedKSegmenter(3).segment(ACTIONS)
    assert seg.fallbacks == 1 and seg.calls == 3
    assert any("falling back to Fixed-K" in r.message for r in caplog.records)


def test_make_segmenter_names():
    assert make_segmenter("fixed-n", n=2).segment(ACTIONS) == [(0, 4), (4, 8)]
    with pytest.raises(ValueError, match="needs an LLM"):
        make_segmenter("semantic")
    with pytest.raises(ValueError, match="unknown segmenter"):
        make_segmenter("nope")


# ----------------------------------------------------------------- curriculum
def test_bucketing_with_paper_thresholds():
    thr = length_thresholds("ALFWorld-Text-v0")
    assert thr == (0, 3, 6)
    assert length_thresholds("InterCodeSQL-v0") == (0, 2, 4) == length_thresholds("webshop")
    cases = {
        (1, 1.0): (1, 1),
        (3, 0.8): (1, 1),
        (3, 0.7): (1, 1),
        (4, 0.6): (2, 2),
        (6, 0.4): (2, 2),
        (7, 0.2): (3, 3),
        (2, 0.39): (1, 3),
        (10, 1.0): (3, 1),
    }
    for (length, gap), expected in cases.items():
        assert bucket_of(length, gap, thr) == expected, (length, gap)
    assert bucket_of(3, 0.6, (0, 2, 4)) == (2, 2)
    assert bucket_of(5, 0.8, (0, 2, 4)) == (3, 1)
    with pytest.raises(ValueError):
        bucket_of(0, 1.0, thr)


def test_phase_selection():
    items = [{"bucket": [i, j], "id": f"{i}{j}"} for i in (1, 2, 3) for j in (1, 2, 3)]
    ids = lambda phase, cur="dual": sorted(it["id"] for it in select_phase(items, phase, cur))  # noqa: E731
    assert ids(1) == ["11"]
    assert ids(2) == ["11", "12", "21"]
    assert len(ids(3)) == 9
    assert len(phase_buckets("static")) == 1 and len(ids(1, "static")) == 9
    assert ids(1, "length") == ["11", "12", "13"]
    assert ids(2, "difficulty") == ["11", "12", "21", "22", "31", "32"]
    with pytest.raises(ValueError):
        select_phase(items, 4)


def test_heatmap_png(tmp_path):
    counts = bucket_counts([(1, 1), (1, 1), (2, 3), (3, 2)])
    assert counts == [[2, 0, 0], [0, 0, 1], [0, 1, 0]]
    out = save_heatmap(counts, tmp_path / "heat.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- losses
def test_dpo_loss_matches_hand_computation():
    pc, pr = torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -1.0])
    rc, rr = torch.tensor([-1.5, -2.0]), torch.tensor([-2.5, -1.5])
    beta = 0.3
    # margins: ((-1+1.5) - (-3+2.5)) = 1.0 ; ((-2+2) - (-1+1.5)) = -0.5
    expected = (-math.log(1 / (1 + math.exp(-0.3))) - math.log(1 / (1 + math.exp(0.15)))) / 2
    loss, stats = dpo_loss(pc, pr, rc, rr, beta)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert stats["accuracy"] == 0.5
    # equal policy and reference: log 2
    z = torch.zeros(3)
    assert dpo_loss(z, z, z, z)[0].item() == pytest.approx(math.log(2))


def test_dpo_loss_gradient_direction():
    pc = torch.tensor([-2.0], requires_grad=True)
    pr = torch.tensor([-2.0], requires_grad=True)
    loss, _ = dpo_loss(pc, pr, torch.tensor([-2.0]), torch.tensor([-2.0]), 0.3)
    loss.backward()
    assert pc.grad.item() < 0 < pr.grad.item()  # descent raises chosen, lowers rejected


def test_bc_loss_masks_and_shifts():
    lp = torch.tensor([[-1.0, -2.0, -3.0], [-4.0, -5.0, -6.0]])  # [B, T-1]
    mask = torch.tensor([[0, 0, 1, 1], [0, 1, 0, 0]])  # [B, T]: shifted -> [[0,1,1],[1,0,0]]
    assert bc_loss(lp, mask).item() == pytest.approx((2 + 3 + 4) / 3)
    assert bc_loss(lp, mask[:, 1:]).item() == pytest.approx(3.0)


def test_composite_loss_weights():
    terms = {"bc": torch.tensor(1.0), "traj": torch.tensor(2.0), "group": torch.tensor(4.0)}
    assert composite_loss(terms).item() == 7.0
    assert composite_loss(terms, {"traj": 0.0, "group": 0.5}).item() == 3.0
    with pytest.raises(ValueError):
        composite_loss(terms, {"bc": 0, "traj": 0, "group": 0})
