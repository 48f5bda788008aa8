"""The one config system of HPL and HGPO (trainers.configfile, trainers.config_sections): same loader, same rules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from trainers.config_sections import SHARED_RENAMES
from trainers.configfile import apply_overrides, build_config, config_reference, iter_settings, load_config
from trainers.hgpo.config import RENAMES, HGPOConfig
from trainers.hpl.config import HPLConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = (HPLConfig, HGPOConfig)
SHIPPED = sorted((REPO / "assets" / "configs").glob("*.yaml"))


def _error(cls, overrides) -> str:
    with pytest.raises(ValueError) as info:
        load_config(cls, None, overrides)
    msg = str(info.value)
    assert "\n" not in msg  # one line
    return msg


# ---------------------------------------------------------------- one loader, one set of rules
def test_both_loaders_give_the_same_errors():
    for overrides, want in [
        (["env.foo=1"], "unknown config key 'env.foo'; valid keys of section 'env': env_id, eval_kwargs, eval_tasks"),
        (["policy.max_new_tokens=abc"], "config key 'policy.max_new_tokens' must be an integer, got 'abc'"),
        (["env.kwargs=3"], "config key 'env.kwargs' must be a mapping, got 3"),
        (["env.train_tasks=2.5"], "config key 'env.train_tasks' must be an integer, got 2.5"),
        (["env.task_selection=best"], "env.task_selection must be one of"),
        (["seed=[1]"], "config key 'seed' must be an integer, got [1]"),
        (["lora.rank=8"], "unknown config key 'lora.rank'; valid keys of section 'lora': alpha, dropout, enabled"),
        (["policy.vllm.tp=2"], "unknown config key 'policy.vllm.tp'; valid keys of section 'policy.vllm'"),
        (["env=3"], "config section 'env' must be a mapping of keys, got 3"),
        (["env.env_id"], "override 'env.env_id' must look like section.key=value"),
        (["env.train_tasks=[1"], "override 'env.train_tasks=[1' is not a valid YAML value"),
    ]:
        got = [_error(cls, overrides) for cls in CONFIGS]
        assert got[0] == got[1], got
        assert want in got[0], (want, got[0])


def test_wrong_type_of_the_learning_rate_is_refused_at_load():
    assert "config key 'sft.learning_rate' must be a number, got 'abc'" in _error(HPLConfig, ["sft.learning_rate=abc"])
    assert "config key 'rl.learning_rate' must be a number, got 'abc'" in _error(HGPOConfig, ["rl.learning_rate=abc"])
    assert "'dpo.beta' must be a number, got 'abc'" in _error(HPLConfig, ["dpo.beta=abc"])


def test_values_are_coerced_and_overrides_reach_sections():
    hpl = load_config(HPLConfig, None, ["sft.learning_rate=1e-5", "env.kwargs={split: train}", "env.num_envs=2.0"])
    hgpo = load_config(HGPOConfig, None, ["rl.learning_rate=1e-5", "env.kwargs={split: train}", "env.num_envs=2.0"])
    for lr in (hpl.sft.learning_rate, hgpo.rl.learning_rate):  # YAML 1.1 reads 1e-5 as a string
        assert isinstance(lr, float) and lr == 1e-5
    for cfg in (hpl, hgpo):
        assert cfg.env.kwargs == {"split": "train"}
        assert cfg.env.num_envs == 2 and isinstance(cfg.env.num_envs, int)
    deep = load_config(HGPOConfig, None, ["policy.vllm.gpu_memory_utilization=0.5", "lora.enabled=true"])
    assert deep.policy.vllm.gpu_memory_utilization == 0.5 and deep.lora.enabled
    # overrides as a mapping of parsed values (what tests and scripts pass) follow the same dotted rules
    assert apply_overrides({"env": {"num_envs": 2}}, {"env.kwargs": {"a": 1}, "seed": 3}) == {
        "env": {"num_envs": 2, "kwargs": {"a": 1}},
        "seed": 3,
    }
    with pytest.raises(ValueError, match="'env.num_envs' is not a section"):
        apply_overrides({"env": {"num_envs": 2}}, ["env.num_envs.x=1"])


def test_validation_runs_in_post_init_before_any_work(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ValueError, match="rl.learning_rate must be > 0"):
        load_config(HGPOConfig, None, ["rl.learning_rate=0", f"run_dir={run}"])
    with pytest.raises(ValueError, match="policy.history_window is K"):
        load_config(HGPOConfig, None, ["policy.history_window=null"])
    with pytest.raises(ValueError, match="unknown method 'dpo-xl'"):
        load_config(HPLConfig, None, ["method=dpo-xl"])
    with pytest.raises(ValueError, match="env.eval_tasks is an empty list"):
        load_config(HPLConfig, None, ["env.eval_tasks=[]"])
    assert not run.exists()


# ---------------------------------------------------------------- renamed keys
@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_rename_target_is_a_key(cls):
    keys = {k for k, _ in iter_settings(cls)}
    for old, new in cls.RENAMED.items():
        assert new in keys or any(k.startswith(new + ".") for k in keys), (old, new)
        assert old not in keys


@pytest.mark.parametrize(
    "cls,old,new",
    [
        (HGPOConfig, "lr", "rl.learning_rate"),
        (HGPOConfig, "env_kwargs", "env.kwargs"),
        (HGPOConfig, "history_k", "policy.history_window"),
        (HGPOConfig, "env_id", "env.env_id"),
        (HGPOConfig, "max_steps", "env.max_episode_steps"),
        (HGPOConfig, "eval_episodes", "env.eval_tasks"),
        (HGPOConfig, "eval_env_kwargs", "env.eval_kwargs"),
        (HGPOConfig, "vllm_kwargs", "policy.backend_kwargs"),
        (HGPOConfig, "kl_coef", "rl.kl_coef"),
        (HGPOConfig, "gamma", "advantage.gamma"),
        (HGPOConfig, "rl.lr", "rl.learning_rate"),
        (HPLConfig, "history_k", "policy.history_window"),
        (HPLConfig, "model", "policy.model"),
        (HPLConfig, "sft.lr", "sft.learning_rate"),
        (HPLConfig, "env.env_kwargs", "env.kwargs"),
    ],
)
def test_an_old_key_names_its_new_name(cls, old, new):
    assert _error(cls, [f"{old}=1"]) == f"config key {old!r} is now {new!r} (renamed; see docs/config.md)"


def test_an_old_flat_hgpo_yaml_is_refused_with_the_new_name(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text("model: tiny\nenv_id: InterCodeSQL-v0\nlr: 1.0e-6\n")
    with pytest.raises(ValueError, match="config key 'model' is now 'policy.model'"):
        load_config(HGPOConfig, old)
    assert set(SHARED_RENAMES) <= set(RENAMES)


def test_a_checkpoint_with_an_old_flat_config_is_mapped_for_the_resume_check():
    pytest.importorskip("torch")
    from trainers.hgpo.trainer import changed_settings

    cfg = load_config(HGPOConfig, None, ["rl.learning_rate=1e-5", "env.env_id=Corridor-Text-v0"])
    saved = {
        "lr": 1e-5,
        "env_id": "Corridor-Text-v0",
        "history_k": 4,
        "iterations": 7,  # resumable: no warning
        "kl_coef": 0.5,  # a real change
        "vllm": {"gpu_memory_utilization": 0.8},
    }
    changed = changed_settings(saved, cfg)
    assert "rl.kl_coef" in changed
    for same in ("rl.learning_rate", "env.env_id", "policy.history_window", "rl.iterations"):
        assert same not in changed
    assert "policy.vllm.gpu_memory_utilization" not in changed
    assert changed_settings(cfg.to_dict(), cfg) == []  # a checkpoint of this version: nothing changed


# ---------------------------------------------------------------- tasks: a count or a list, chosen alike
def test_train_and_eval_tasks_are_chosen_the_same_way_in_both_trainers(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")
    from trainers.hgpo.trainer import HGPOTrainer
    from trainers.hpl.pipeline import Pipeline
    from trainers.task_selection import select_task_ids

    env = {
        "env_id": "Corridor-Text-v0",
        "kwargs": {"lengths": [1, 2, 3, 4, 5, 6, 7, 8], "task_type": "length-{length}"},
        "eval_kwargs": {"lengths": [1, 2, 3, 4, 5]},
        "num_envs": 1,
    }

    def both(train_tasks, eval_tasks, seed=5):
        shared = {"env": {**env, "train_tasks": train_tasks, "eval_tasks": eval_tasks}, "seed": seed, "device": "cpu"}
        hpl = Pipeline(build_config(HPLConfig, {**shared, "run_dir": str(tmp_path / "hpl")}), log=lambda _m: None)
        hgpo_cfg = build_config(
            HGPOConfig,
            {**shared, "run_dir": str(tmp_path / "hgpo"), "eval_every": 1, "policy": {"model": str(tiny_model_dir)}},
        )
        trainer = HGPOTrainer(hgpo_cfg, resume=False, log=lambda _m: None)
        try:
            got = (trainer.train_task_ids, trainer.eval_task_ids)
        finally:
            trainer.close()
        assert got == (hpl._tasks(False), hpl._tasks(True))
        return got

    train, evaluation = both(3, 2)
    ids = [f"corridor-{n}" for n in range(1, 9)]
    assert train == select_task_ids(
        ids, 3, seed=5, types={t: "length-" + t[9:] for t in ids}
    )  # seeded, stratified by type
    assert len(evaluation) == 2 and set(evaluation) <= {f"corridor-{n}" for n in range(1, 6)}
    assert both(3, 2, seed=6)[0] != train  # the run seed picks them
    assert both(["corridor-7", 0], [4]) == (["corridor-7", "corridor-1"], ["corridor-5"])  # ids or indices
    assert both(0, 0) == (ids, ids[:5])  # 0: all


# ---------------------------------------------------------------- shipped YAMLs and --help-config
def test_every_shipped_config_loads():
    assert len(SHIPPED) >= 9
    trainer_of = {"hpl_": HPLConfig, "real_methods_": HPLConfig, "hgpo_": HGPOConfig, "real_rl_": HGPOConfig}
    for path in SHIPPED:
        cls = next((c for prefix, c in trainer_of.items() if path.name.startswith(prefix)), None)
        if cls is None:
            pytest.fail(f"{path.name}: a config of which trainer? (add its name prefix to this test)")
        load_config(cls, path)


@pytest.mark.parametrize("script,cls", [("hpl", HPLConfig), ("hgpo", HGPOConfig)])
def test_help_config_lists_every_key_with_its_help(script, cls, capsys):
    import importlib

    main = importlib.import_module(f"scripts.{script}").main
    assert main(["--help-config"]) == 0
    out = capsys.readouterr().out
    assert out == config_reference(cls, out.splitlines()[0])
    settings = iter_settings(cls)
    assert len(settings) > 30
    for key, f in settings:
        text = f.metadata.get("help", "")
        assert text, f"{cls.__name__}: {key} has no help text"
        assert f"  {key}: " in out and text in out, key
    sections = {key.rsplit(".", 1)[0] for key, _ in settings if "." in key}
    for section in sections:  # a section's header is its field's help
        node, f = cls, None
        for part in section.split("."):
            f = {g.name: g for g in dataclasses.fields(node)}[part]
            node = f.default_factory
        assert f is not None and f.metadata.get("help"), f"{cls.__name__}: section {section} has no help text"
        assert f"[{section}] {f.metadata['help']}" in out
    # the defaults are printed as YAML would read them
    assert "  env.max_episode_steps: int | None = null" in out and "  lora.enabled: bool = false" in out


def test_print_config_round_trips(capsys, tmp_path):
    from scripts.hpl import main

    assert main(["--print-config", "--set", "env.train_tasks=[a, b]", "--run-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    cfg = build_config(HPLConfig, data)
    assert cfg.env.train_tasks == ["a", "b"] and cfg.run_dir == str(tmp_path)
    assert main(["--set", "history_k=1"]) == 2
    assert "config key 'history_k' is now 'policy.history_window'" in capsys.readouterr().err


def test_docs_list_every_renamed_key():
    text = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    for cls in CONFIGS:
        for old, new in cls.RENAMED.items():
            assert f"`{old}`" in text, f"docs/config.md: the rename table lacks {old} -> {new}"


def test_policy_dtype_reaches_the_generation_policy_in_hpl(tiny_model_dir, tmp_path):
    pytest.importorskip("torch")
    from trainers.hpl.pipeline import Pipeline

    for overrides, want in [
        (["policy.dtype=bfloat16"], "bfloat16"),
        (["policy.dtype=bfloat16", "policy.backend_kwargs={dtype: float32}"], "float32"),  # backend_kwargs win
        ([], "float32"),  # the checkpoint's
    ]:
        cfg = load_config(HPLConfig, None, [*overrides, "device=cpu", f"run_dir={tmp_path}"])
        policy = Pipeline(cfg, log=lambda _m: None)._hf_policy(tiny_model_dir)
        assert policy.describe()["dtype"] == want, overrides
