"""The rollout engine (trainers.rollout) on the toy corridor env and the tiny model."""

from __future__ import annotations

import hashlib
import json

import gymnasium as gym
import pytest

from agent_gym.diagnostic.corridor import CorridorEnv
from agent_gym.errors import GameLoadError, InvalidTaskError
from agent_gym.registration import register_text_env
from tests.toy_env import register_toy
from trainers.policies import Generation, GenerationParams, OraclePolicy, Policy, RandomPolicy
from trainers.rollout import (
    Branch,
    EpisodeRecord,
    LiveEpisode,
    continue_from,
    episode_conversation,
    make_env,
    read_records,
    run_episodes,
    step_messages,
)
from wrappers import HistoryWrapper, context_hashes
from wrappers.prompting import PromptConfig

TOY = "AgentGymTest-Corridor-v0"
register_toy(TOY)


class ScriptPolicy(Policy):
    """Returns texts from a function of (call number, info); records every conversation it saw."""

    name = "script"

    def __init__(self, fn):
        self.fn = fn
        self.seen: list[list[dict]] = []
        self.calls = 0

    def generate(self, conversations, params=None):
        raise AssertionError("the rollout engine must call act(), not generate()")

    def act(self, conversations, infos=None, params=None, *, env_id=None):
        out = []
        for conv, info in zip(conversations, infos):
            self.seen.append(conv)
            out.append(Generation(text=self.fn(self.calls, info)))
            self.calls += 1
        return out


def test_groups_share_task_and_seed_and_oracle_solves():
    recs = run_episodes(
        OraclePolicy(), TOY, group_size=3, env_kwargs={"expert": True}, num_envs=4, seed=7, progress=False
    )
    assert len(recs) == 9
    assert [r.task_id for r in recs] == ["corridor-2"] * 3 + ["corridor-3"] * 3 + ["corridor-4"] * 3
    assert [r.rollout_index for r in recs[:3]] == [0, 1, 2]
    assert len({r.group_id for r in recs}) == 3 and len({r.episode_id for r in recs}) == 9
    assert all(r.success and r.terminated and not r.truncated and r.reward == 1.0 for r in recs)
    rec = recs[-1]
    assert rec.num_steps == 5 and rec.steps[-1].action == "stop" and rec.seed == 7 and rec.policy == "oracle"
    assert all(s.expert_action == s.action for s in rec.steps)
    # per-step context hashes are the history wrapper's, i.e. wrappers.context_hashes over (obs, action)
    obs, acts = rec.observations, [s.action for s in rec.steps]
    for t, step in enumerate(rec.steps):
        assert step.context_hashes == context_hashes(obs[: t + 1], acts[:t], 4)[0]


def test_prompts_seen_equal_step_messages_and_window():
    pol = ScriptPolicy(lambda i, info: "Thought: go\nAction: go right" if info["elapsed_steps"] < 4 else "Action: stop")
    cfg = PromptConfig(history_window=2)
    recs = run_episodes(pol, TOY, tasks=["corridor-4", "corridor-2"], num_envs=1, prompt=cfg, progress=False)
    rendered = [step_messages(r, t) for r in recs for t in range(r.num_steps)]
    assert pol.seen == rendered
    assert recs[0].prompt_config() == cfg and recs[0].success and not recs[1].success
    assert "[earlier steps omitted]" in pol.seen[4][1]["content"]
    conv = episode_conversation(recs[0])
    assert [m["role"] for m in conv] == ["system"] + ["user", "assistant"] * 5
    assert [m["content"] for m in conv if m["role"] == "assistant"] == recs[0].raw_outputs


def test_unparseable_output_does_not_step_env_and_counts_toward_limit():
    pol = ScriptPolicy(lambda i, info: "I am not sure." if i == 0 else "Action: go right")
    rec = run_episodes(pol, TOY, tasks=["corridor-3"], num_envs=1, max_steps=4, progress=False)[0]
    s0, s1 = rec.steps[0], rec.steps[1]
    assert s0.action is None and not s0.action_valid and "Action:" in s0.parse_error and s0.reward == 0.0
    assert "no action was taken" in s1.observation and "Thought:" in s1.observation
    assert s1.context_hashes == s0.context_hashes  # the env did not move
    assert rec.num_steps == 4 and rec.truncated and not rec.terminated and not rec.success
    assert rec.invalid_actions == 1
    never = run_episodes(ScriptPolicy(lambda i, info: "??"), TOY, tasks=[0], num_envs=1, progress=False)[0]
    assert never.num_steps == 12 and never.truncated and never.invalid_actions == 12  # env's default limit


def test_env_rejected_action_is_invalid_but_stepped():
    pol = ScriptPolicy(lambda i, info: "Action: jump" if i == 0 else "Action: stop")
    rec = run_episodes(pol, TOY, tasks=[0], num_envs=1, progress=False)[0]
    assert rec.steps[0].action == "jump" and not rec.steps[0].action_valid and rec.steps[0].parse_error is None
    assert rec.steps[1].observation == "Nothing happens." and rec.terminated and not rec.success


def test_jsonl_resume_skips_done_and_survives_partial_line(tmp_path):
    out = tmp_path / "traj.jsonl"
    first = run_episodes(RandomPolicy(seed=1), TOY, tasks=[0, 1], group_size=2, out_path=out, progress=False)
    assert len(read_records(out)) == 4
    with out.open("a") as f:
        f.write('{"episode_id": "corridor-4@0/r0", "env_id": ')  # a run killed mid-write
    counter = ScriptPolicy(lambda i, info: "Action: stop")
    recs = run_episodes(counter, TOY, tasks=[0, 1, 2], group_size=2, out_path=out, progress=False)
    assert counter.calls == 2  # only the two corridor-4 episodes were played
    assert [r.to_dict() for r in recs[:4]] == [r.to_dict() for r in first]
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(ln) for ln in lines)
    again = ScriptPolicy(lambda i, info: "Action: stop")
    run_episodes(again, TOY, tasks=[0, 1, 2], group_size=2, out_path=out, resume=False, progress=False)
    assert again.calls == 6
    back = {r["episode_id"]: EpisodeRecord.from_dict(r).to_dict() for r in map(json.loads, lines)}
    assert back[first[0].episode_id] == first[0].to_dict()  # lines are in completion order


def test_unknown_ids_are_clear_errors():
    with pytest.raises(InvalidTaskError, match="unknown env id 'Nope-v0'"):
        run_episodes(RandomPolicy(), "Nope-v0", progress=False)
    with pytest.raises(InvalidTaskError, match="unknown task id"):
        run_episodes(RandomPolicy(), TOY, tasks=["corridor-99"], progress=False)
    with pytest.raises(TypeError, match="HistoryWrapper"):
        LiveEpisode(gym.make(TOY))
    with pytest.raises(TypeError, match="env id is read from env.spec.id"):
        LiveEpisode(make_env(TOY), TOY)  # the old (env, env_id) call
    with pytest.raises(ValueError, match="not made with gym.make"):
        LiveEpisode(HistoryWrapper(CorridorEnv()))
    with pytest.raises(
        ValueError, match="env_id is 'Corridor-Text-v0' but the given envs play 'AgentGymTest-Corridor-v0'"
    ):
        run_episodes(RandomPolicy(), "Corridor-Text-v0", envs=[make_env(TOY)], progress=False)
    with pytest.raises(ValueError, match="does not accept bogus .it takes: .*lengths"):
        make_env(TOY, {"bogus": 1})
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        run_episodes(RandomPolicy(), TOY, num_envs=0, progress=False)
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        run_episodes(RandomPolicy(), TOY, max_steps=0, progress=False)


# ---------------------------------------------------------------- branching
def _live(expert: bool = True, k: int = 4) -> LiveEpisode:
    return LiveEpisode(make_env(TOY, {"expert": expert}, history_k=k), PromptConfig(history_window=k))


def test_continue_from_snapshots_matches_straight_run():
    oracle = OraclePolicy()
    straight = run_episodes(oracle, TOY, tasks=["corridor-4"], env_kwargs={"expert": True}, progress=False)[0]
    ep = _live()
    ep.reset("corridor-4", seed=0)
    states = []
    for _ in range(3):
        states.append(ep.snapshot())
        ep.apply(oracle.act([ep.messages()], [ep.info], env_id=TOY)[0])
    recs = continue_from([Branch(ep, s, meta={"t": i}) for i, s in enumerate(states)], oracle)
    for i, rec in enumerate(recs):
        assert rec.branch_from == i and rec.meta == {"t": i}
        assert [s.raw_output for s in rec.steps] == straight.raw_outputs
        assert [s.context_hashes for s in rec.steps] == [s.context_hashes for s in straight.steps]
        assert rec.success and rec.episode_id == straight.episode_id


def test_branches_on_many_episodes_batch_and_budget():
    calls = []

    class Counting(RandomPolicy):
        def act(self, conversations, infos=None, params=None, *, env_id=None):
            calls.append(len(conversations))
            return super().act(conversations, infos, params, env_id=env_id)

    eps = [_live(expert=False) for _ in range(3)]
    for ep in eps:
        ep.reset("corridor-4")
        ep.apply("Action: go right")
    branches = [Branch(ep, ep.snapshot(), max_steps=2, meta={"m": m}) for ep in eps for m in range(2)]
    stats: dict = {}
    recs = continue_from(branches, Counting(seed=0), keep_end_state=True, stats=stats)
    assert stats["llm_calls"] == 0 and stats["env_steps"] == sum(r.num_steps - r.branch_from for r in recs)
    assert len(recs) == 6 and [r.meta["m"] for r in recs] == [0, 1] * 3
    assert max(calls) == 3  # one batched call across the three envs per round
    for r in recs:
        assert r.branch_from == 1 and r.steps[0].raw_output == "Action: go right"
        assert 2 <= r.num_steps <= 3 and r.end_state is not None
        assert "end_state" not in r.to_dict()
    assert continue_from([], OraclePolicy()) == []


def test_forced_outputs_then_policy_and_end_state_resume():
    ep = _live()
    ep.reset("corridor-3")
    start = ep.snapshot()
    rec = continue_from(
        [Branch(ep, start, forced_outputs=["Action: go right", "Action: go left"], max_steps=1)],
        OraclePolicy(),
        keep_end_state=True,
    )[0]
    assert [s.forced for s in rec.steps] == [True, True, False]
    assert [s.action for s in rec.steps] == ["go right", "go left", "go right"]
    assert not (rec.terminated or rec.truncated)
    tail = continue_from([Branch(ep, rec.end_state)], OraclePolicy())[0]
    assert tail.branch_from == 3 and tail.success and [s.action for s in tail.steps][-2:] == ["go right", "stop"]
    with pytest.raises(ValueError, match="same LiveEpisode"):
        _live().restore(start)


# ---------------------------------------------------------------- with the tiny model
def test_tiny_model_rollout_records_tokens_and_conversation_masks(tiny_model_dir):
    from transformers import AutoTokenizer

    from trainers.policies import make_policy
    from trainers.sequences import encode_conversation

    pol = make_policy("hf", model=str(tiny_model_dir), device="cpu")
    params = GenerationParams(max_new_tokens=12, temperature=1.0, seed=3, logprobs=True)
    stats: dict = {}
    recs = run_episodes(
        pol, TOY, tasks=[0, 1], group_size=2, num_envs=4, params=params, max_steps=3, progress=False, stats=stats
    )
    assert len(recs) == 4 and all(r.num_steps == 3 for r in recs)
    assert stats["llm_calls"] == stats["env_steps"] == 12 and stats["rounds"] == 3
    assert stats["generated_tokens"] == sum(len(s.token_ids) for r in recs for s in r.steps)
    step = recs[0].steps[0]
    assert step.token_ids and len(step.logprobs) == len(step.token_ids) <= 12
    texts = {r.steps[0].raw_output for r in recs}
    assert len(texts) > 1  # the group members sampled different outputs
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    enc = encode_conversation(tok, episode_conversation(recs[0]))
    trained = tok.decode([i for i, m in zip(enc.input_ids, enc.loss_mask) if m])
    assert trained == "<|im_end|>".join(recs[0].raw_outputs) + "<|im_end|>"


# ---------------------------------------------------------------- greedy repeats, kills, limits, env errors
class PromptFunctionPolicy(Policy):
    """A deterministic "greedy model": its output is a function of the whole prompt.

    ``kill_after``: raise ``KeyboardInterrupt`` at that call, like a kill in the middle of a run.
    """

    name = "promptfn"
    OUTPUTS = [
        "Thought: on\nAction: go right",
        "Thought: back\nAction: go left",
        "I am not sure.",
        "Thought: hm\nAction: jump",
        "no idea",
        "Thought: on\nAction: go right",
        "Thought: done\nAction: stop",
    ]

    def __init__(self, kill_after: int | None = None):
        self.calls = 0
        self.kill_after = kill_after

    def generate(self, conversations, params=None):
        out = []
        for conv in conversations:
            if self.kill_after is not None and self.calls >= self.kill_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            h = int(hashlib.sha256(json.dumps(conv).encode()).hexdigest(), 16)
            text = self.OUTPUTS[h % len(self.OUTPUTS)]
            out.append([Generation(text=text, token_ids=list(range(len(text.split()))), finish_reason="stop")])
        return out


def _plain(recs):
    return [{k: v for k, v in r.to_dict().items() if k != "meta"} for r in recs]


def test_greedy_repeat_reuse_gives_the_records_of_generating_every_step():
    kw = dict(group_size=2, num_envs=3, prompt=PromptConfig(history_window=0), progress=False, max_steps=12)
    every, reuse = PromptFunctionPolicy(), PromptFunctionPolicy()
    s_every: dict = {}
    s_reuse: dict = {}
    a = run_episodes(every, TOY, stats=s_every, **kw)
    b = run_episodes(reuse, TOY, stats=s_reuse, reuse_greedy_repeats=True, **kw)
    assert _plain(a) == _plain(b)  # the same episodes, step for step (outputs, token ids, rewards, ends)
    reused = sum(r.meta.get("reused_outputs", 0) for r in b)
    assert reused > 0 and reuse.calls == every.calls - reused and s_reuse["llm_calls"] == reuse.calls
    assert sum(r.meta["generated_tokens"] for r in b) < sum(r.meta["generated_tokens"] for r in a)
    assert sum(r.meta["generated_tokens"] for r in a) == s_every["generated_tokens"]
    # sampling is never reused
    c = run_episodes(
        PromptFunctionPolicy(), TOY, reuse_greedy_repeats=True, params=GenerationParams(temperature=1.0), **kw
    )
    assert all("reused_outputs" not in r.meta for r in c)
    # a policy that declares it is no language model is asked every time and makes no LLM calls
    not_a_model = PromptFunctionPolicy()
    not_a_model.is_language_model = False
    s_not: dict = {}
    d = run_episodes(not_a_model, TOY, stats=s_not, reuse_greedy_repeats=True, **kw)
    assert _plain(d) == _plain(a) and all("reused_outputs" not in r.meta for r in d)
    assert not_a_model.calls == every.calls and s_not["llm_calls"] == 0 and s_every["llm_calls"] == every.calls


def test_greedy_repeat_reuse_with_the_tiny_model_equals_generating(tiny_model_dir):
    from trainers.policies import make_policy

    pol = make_policy("hf", model=str(tiny_model_dir), device="cpu")
    kw = dict(
        tasks=[0, 1],
        num_envs=2,
        prompt=PromptConfig(history_window=0),
        progress=False,
        max_steps=6,
        params=GenerationParams(max_new_tokens=12),
    )
    every = run_episodes(pol, "InterCodeSQL-v0", **kw)
    reuse = run_episodes(pol, "InterCodeSQL-v0", reuse_greedy_repeats=True, **kw)
    assert _plain(every) == _plain(reuse)
    assert sum(r.meta.get("reused_outputs", 0) for r in reuse) > 0  # the random model repeats its unparseable output


def test_killed_run_resumes_from_the_steps_in_flight(tmp_path):
    kw = dict(tasks=[0, 1, 2], group_size=2, num_envs=3, prompt=PromptConfig(history_window=1), progress=False)
    straight = run_episodes(PromptFunctionPolicy(), TOY, **kw)
    out = tmp_path / "t.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_episodes(PromptFunctionPolicy(kill_after=10), TOY, out_path=out, **kw)
    inflight = tmp_path / "t.jsonl.inflight"
    logged = [json.loads(x) for x in inflight.read_text().splitlines()]
    assert len(logged) >= 7  # the rounds before the kill were saved step by step
    rerun = PromptFunctionPolicy()
    resumed = run_episodes(rerun, TOY, out_path=out, **kw)
    assert _plain(resumed) == _plain(straight)
    total_calls = sum(r.num_steps for r in straight)
    done_before = {d["episode_id"] for d in logged}
    assert rerun.calls <= total_calls - len(logged)  # logged steps were replayed, not generated again
    assert sum(r.meta["generated_tokens"] for r in resumed) == sum(r.meta["generated_tokens"] for r in straight)
    assert not inflight.exists() and done_before
    assert sorted(r.episode_id for r in read_records(out)) == sorted(r.episode_id for r in straight)


def test_max_unparseable_ends_an_episode():
    pol = ScriptPolicy(lambda i, info: "I do not know.")
    rec = run_episodes(pol, TOY, tasks=[0], max_unparseable=3, progress=False)[0]
    assert rec.num_steps == 3 and rec.truncated and not rec.terminated and rec.meta["ended_by"] == "max_unparseable"
    off = run_episodes(ScriptPolicy(lambda i, info: "I do not know."), TOY, tasks=[0], progress=False)[0]
    assert off.num_steps == 12 and "ended_by" not in off.meta  # off by default: the env's step limit
    mixed = ScriptPolicy(lambda i, info: "Action: go left" if i % 3 == 2 else "?")  # never 3 unparseable in a row
    assert run_episodes(mixed, TOY, tasks=[0], max_unparseable=3, progress=False)[0].num_steps == 12
    with pytest.raises(ValueError, match="max_unparseable"):
        run_episodes(pol, TOY, tasks=[0], max_unparseable=0, progress=False)


class BadCorridor(CorridorEnv):
    """corridor-3's "game file" is broken: reset raises the env's data error."""

    def _load_task(self, task_id):
        if task_id == "corridor-3":
            raise GameLoadError("cannot load game /data/corridor-3.json: bad grammar")
        return super()._load_task(task_id)


BAD = "AgentGymTest-BadCorridor-v0"
if BAD not in gym.registry:
    register_text_env(BAD, "tests.test_rollout:BadCorridor", 12)


def test_env_errors_are_recorded_per_episode_and_the_run_carries_on(tmp_path):
    with pytest.raises(GameLoadError):
        run_episodes(OraclePolicy(), BAD, env_kwargs={"expert": True}, num_envs=1, progress=False)
    recs = run_episodes(
        OraclePolicy(),
        BAD,
        env_kwargs={"expert": True},
        num_envs=2,
        progress=False,
        record_errors=True,
        out_path=tmp_path / "e.jsonl",
    )
    assert [r.task_id for r in recs] == ["corridor-2", "corridor-3", "corridor-4"]
    bad = recs[1]
    assert not bad.success and bad.num_steps == 0 and "bad grammar" in bad.meta["error"]
    assert recs[0].success and recs[2].success and "error" not in recs[0].meta
    assert len(read_records(tmp_path / "e.jsonl")) == 3


def test_progress_bar_counts_steps(capsys):
    run_episodes(ScriptPolicy(lambda i, info: "?"), TOY, tasks=[0], max_steps=5, progress=True)
    err = capsys.readouterr().err
    assert "steps=5" in err and "1/1" in err


def test_max_steps_is_the_time_limit_built_from_it_never_capped():
    """Issue 16.1: Corridor-Text-v0 (registered limit 12) asked for 20 steps plays 20."""
    wander = ScriptPolicy(lambda i, info: "Action: go left")  # never reaches the end
    rec = run_episodes(wander, "Corridor-Text-v0", tasks=["corridor-4"], num_envs=1, max_steps=20, progress=False)[0]
    assert rec.num_steps == 20 and rec.truncated and not rec.terminated
    rec = run_episodes(wander, "Corridor-Text-v0", tasks=["corridor-4"], num_envs=1, progress=False)[0]
    assert rec.num_steps == 12  # None: the registered default
    env = make_env("Corridor-Text-v0")
    try:
        assert LiveEpisode(env).max_steps == 12
        with pytest.raises(ValueError, match="max_steps=20 but the env's step limit is 12"):
            run_episodes(wander, "Corridor-Text-v0", tasks=["corridor-4"], envs=[env], max_steps=20, progress=False)
    finally:
        env.close()
    with pytest.raises(ValueError, match="disagrees"):
        run_episodes(wander, "Corridor-Text-v0", env_kwargs={"max_episode_steps": 5}, max_steps=20, progress=False)


def test_hgpo_alfworld_config_asking_50_steps_plays_50(alfworld_data_root, tiny_model_dir, tmp_path):
    """Issue 16.1 regression: hgpo_alfworld.yaml asks for 50 steps; the trainer's envs play 50 (not the registered 30)."""
    from pathlib import Path

    from trainers.hgpo.config import load_config
    from trainers.hgpo.trainer import HGPOTrainer

    repo = Path(__file__).resolve().parents[1]
    cfg = load_config(
        repo / "assets/configs/hgpo_alfworld.yaml",
        [
            f"policy.model={tiny_model_dir}",
            "policy.backend=hf",
            "device=cpu",
            "policy.dtype=null",
            "env.num_envs=1",
            "rl.group_size=1",
            "rl.tasks_per_iteration=1",
            "rl.kl_coef=0",
            f"env.kwargs={{data_dir: {alfworld_data_root}}}",
            "env.train_tasks=[0]",
            f"run_dir={tmp_path / 'run'}",
        ],
    )
    assert cfg.env.max_episode_steps == 50
    trainer = HGPOTrainer(cfg, resume=False, log=lambda *_: None)
    try:
        trainer.policy = ScriptPolicy(lambda i, info: "Action: look")  # a valid action that never wins
        rec = trainer.rollout(0)[0]
        assert rec.num_steps == 50 and rec.truncated
        assert all(s.action_valid for s in rec.steps)  # every step reached the env (its TimeLimit did not stop at 30)
    finally:
        trainer.close()


def test_continue_from_fails_instead_of_dropping_a_branch_without_a_record(monkeypatch):
    """Issue 16.5: a branch that ends without a record must not silently shift records against branches."""
    import trainers.rollout as rollout

    eps = [LiveEpisode(make_env(TOY, {}, history_k=2)) for _ in range(2)]
    try:
        for ep in eps:
            ep.reset("corridor-3", seed=0)
        branches = [Branch(ep, ep.snapshot(), max_steps=1) for ep in eps]
        real_drive = rollout._drive

        def lossy_drive(slots, queues, *args, **kwargs):  # drops the first branch's job
            return real_drive(slots, [q[1:] if n == 0 else q for n, q in enumerate(queues)], *args, **kwargs)

        monkeypatch.setattr(rollout, "_drive", lossy_drive)
        with pytest.raises(RuntimeError, match=r"1 of 2 branches ended without a record \(branch indices \[0\]\)"):
            continue_from(branches, ScriptPolicy(lambda i, info: "Action: go right"))
    finally:
        for ep in eps:
            ep.close()
