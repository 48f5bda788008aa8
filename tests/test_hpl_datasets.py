"""Dataset builders on the real envs with the tiny model as pi_ref: shapes and loss masks of every pair level."""

from __future__ import annotations

import pytest

from tests.conftest import require_installed
from tests.toy_env import register_toy
from trainers.hpl.demonstrations import conversation, is_success
from trainers.hpl.exploration import Explorer, walk_expert
from trainers.hpl.segmenters import FixedKSegmenter
from trainers.hpl.train import encode_pair, precompute_reference
from trainers.policies import OraclePolicy
from trainers.policies.base import GenerationParams
from trainers.rollout import LiveEpisode, make_env, run_episodes
from trainers.sequences import encode_conversation
from wrappers.prompting import PromptConfig

PROMPT = PromptConfig(history_window=None)
PARAMS = GenerationParams(temperature=1.0, max_new_tokens=6, seed=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from trainers.models import build_tiny_model
    from trainers.policies import make_policy

    path = build_tiny_model(tmp_path_factory.mktemp("hpl") / "tiny")
    policy = make_policy("hf", model=str(path), device="cpu")
    yield policy
    policy.close()


def _assert_masked_exactly_agent_tokens(tok, pair):
    enc_c, enc_r = encode_pair(tok, pair)
    for enc, msgs in ((enc_c, pair["chosen"]), (enc_r, pair["rejected"])):
        assert len(enc.input_ids) == len(enc.loss_mask)
        masked = [t for t, m in zip(enc.input_ids, enc.loss_mask) if m]
        expected = "".join(m["content"] + "<|im_end|>" for m in msgs if m["role"] == "assistant")
        assert tok.decode(masked) == expected  # agent tokens only: no prompt, no observations
        prompt_len = len(tok.apply_chat_template(pair["prompt"], tokenize=True, add_generation_prompt=True))
        assert not any(enc.loss_mask[:prompt_len])
        assert enc.input_ids[:prompt_len] == enc_c.input_ids[:prompt_len]  # shared context


def _check_env(env_id, env_kwargs, tiny, tasks, max_steps):
    demos = run_episodes(
        OraclePolicy(env_id),
        env_id,
        tasks,
        env_kwargs={**env_kwargs, "expert": True},
        prompt=PROMPT,
        num_envs=len(tasks),
        max_steps=max_steps,
        progress=False,
    )
    strict = "WebShop" in env_id
    demos = [d for d in demos if is_success(d, 0.8 if strict else 1.0, strict)]
    assert demos, f"the oracle solved none of {tasks}"
    tok = tiny.tokenizer
    # D_expert conversations: every assistant output is trained on, nothing else
    conv = conversation(demos[0], PROMPT)
    enc = encode_conversation(tok, conv)
    masked = [t for t, m in zip(enc.input_ids, enc.loss_mask) if m]
    assert tok.decode(masked) == "".join(s.raw_output + "<|im_end|>" for s in demos[0].steps)

    eps = [
        LiveEpisode(make_env(env_id, {**env_kwargs, "max_episode_steps": max_steps}, history_k=0), PROMPT)
        for _ in demos
    ]
    try:
        walks = [walk_expert(ep, d) for ep, d in zip(eps, demos)]
        # step_reward="outcome": the untrained pi_ref never wins, so IPR's Monte-Carlo value of an expert step
        # would be 0 except at the last one (tests/test_hpl_exploration.py checks that mode by hand);
        # here the point is the shape and masking of every level's pairs
        ex = Explorer(tiny, PARAMS, PROMPT, mc_rollouts=1, step_stride=2, step_reward="outcome")
        traj, _ = ex.trajectory_level(walks)
        step = ex.step_level(walks)
        segs = [FixedKSegmenter(2).segment(w.record.raw_outputs) for w in walks]
        group = ex.group_level(walks, segs)
    finally:
        for ep in eps:
            ep.close()
    # the untrained tiny model never beats the oracle: one trajectory pair per demo
    assert len(traj) == len(demos)
    assert step and group
    for pair in traj + step + group:
        assert pair["chosen"][0]["role"] == "assistant" and pair["rejected"][0]["role"] == "assistant"
        assert pair["chosen"][-1]["role"] == "assistant" and pair["rejected"][-1]["role"] == "assistant"
        assert pair["reward_chosen"] > pair["reward_rejected"]
        _assert_masked_exactly_agent_tokens(tok, pair)
    for pair in group:
        n_w = sum(m["role"] == "assistant" for m in pair["chosen"])
        assert n_w == pair["length"] and 1 <= pair["length_rejected"] <= pair["length"]
        assert 0.0 <= pair["reward_rejected"] <= 1.0
    for pair in step:
        assert len(pair["prompt"]) == 2 + 2 * pair["start"]
    ref = precompute_reference(tiny.model, tok, traj[:2], batch_size=2, progress=False)
    assert all(r["ref_chosen"] < 0 and r["ref_rejected"] < 0 for r in ref)
    return ex.stats


def test_datasets_alfworld_real_games(tiny, alfworld_data_root):
    # only an engine that is not installed skips; a broken install or an import error inside agent_gym fails
    require_installed("textworld", "fast_downward", hint="pip install 'agent-gym[alfworld]'")
    import agent_gym.alfworld.env  # noqa: F401

    kwargs = {"data_dir": str(alfworld_data_root), "split": "valid_seen"}
    stats = _check_env("ALFWorld-Text-v0", {**kwargs, "max_episode_steps": 8}, tiny, [0, 1], max_steps=8)
    assert stats["group"].llm_calls > 0


def test_datasets_webshop_generated(tiny):
    stats = _check_env("WebShop-Text-v0", {"max_episode_steps": 6}, tiny, [0, 1], max_steps=6)
    assert stats["traj"].env_steps > 0


def test_datasets_sql_generated(tiny):
    _check_env("InterCodeSQL-v0", {"max_episode_steps": 6}, tiny, [0, 1], max_steps=6)


def test_model_based_segmenters_on_tiny_model(tiny, caplog):

    from trainers.hpl.exploration import split_continuation
    from trainers.hpl.segmenters import SemanticSegmenter, UncertaintySegmenter, policy_chat_fn
    from trainers.hpl.train import action_entropies

    env_id = "HPLCorridor-v0"
    register_toy(env_id)
    demo = run_episodes(
        OraclePolicy(env_id), env_id, ["corridor-4"], env_kwargs={"expert": True}, prompt=PROMPT, progress=False
    )[0]
    steps = [split_continuation(demo, t, t + 1, PROMPT) for t in range(demo.num_steps)]
    ent = action_entropies(tiny.model, tiny.tokenizer, [(p, c[0]["content"]) for p, c in steps])
    assert len(ent) == demo.num_steps and all(e > 0 for e in ent)
    seg = UncertaintySegmenter().fit(ent)
    groups = seg.segment(demo.raw_outputs, entropies=ent)
    assert groups[0][0] == 0 and groups[-1][1] == demo.num_steps and len(groups) >= 1
    # the untrained tiny model cannot answer with valid JSON: retried, then Fixed-K with a warning
    sem = SemanticSegmenter(policy_chat_fn(tiny, max_new_tokens=8), retries=1, fallback_k=2)
    assert sem.segment(demo.raw_outputs) == [(0, 2), (2, 4), (4, 5)]
    assert sem.calls == 2 and sem.fallbacks == 1
