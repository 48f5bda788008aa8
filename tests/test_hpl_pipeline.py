"""HPL config, methods, CLI and the whole pipeline end to end (tiny model, toy corridor env)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.toy_env import register_toy
from trainers.hpl.config import config_from_dict, load_config
from trainers.hpl.methods import METHODS, get_method
from trainers.hpl.pipeline import (
    SHARDED_STAGES,
    STAGE_REGISTRY,
    STAGES,
    TRAINING_STAGES,
    Pipeline,
    read_jsonl,
    reuse_stages,
    run_pipeline,
)

REPO = Path(__file__).resolve().parents[1]
ENV_ID = "HPLCorridor-v0"
register_toy(ENV_ID)


def test_shipped_configs_load():
    paths = sorted((REPO / "assets" / "configs").glob("hpl_*.yaml"))
    assert {p.name for p in paths} >= {"hpl_tiny.yaml", "hpl_alfworld.yaml", "hpl_webshop.yaml", "hpl_sql.yaml"}
    for p in paths:
        cfg = load_config(p)
        get_method(cfg.method)
    cfg = load_config(REPO / "assets/configs/hpl_alfworld.yaml", ["explore.mc_rollouts=3", "method=eto"])
    assert cfg.explore.mc_rollouts == 3 and cfg.method == "eto" and cfg.dpo.beta == 0.3
    assert (
        Pipeline(cfg).dpo_lr == 3e-6 and Pipeline(load_config(REPO / "assets/configs/hpl_webshop.yaml")).dpo_lr == 1e-6
    )


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="explore.mc_rolouts"):
        config_from_dict({"explore": {"mc_rolouts": 3}})
    with pytest.raises(ValueError, match="sft.precision must be one of"):
        config_from_dict({"sft": {"precision": "fp16"}})
    with pytest.raises(FileNotFoundError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="unknown method"):
        get_method("dpo-xl")


def test_config_types_are_coerced_and_checked_at_load(tmp_path):
    cfg = load_config(None, ["sft.learning_rate=1e-5", "dpo.learning_rate=3e-6", "dpo.epochs=2", "env.train_tasks=4.0"])
    assert isinstance(cfg.sft.learning_rate, float) and cfg.sft.learning_rate == 1e-5
    assert isinstance(cfg.dpo.learning_rate, float) and cfg.dpo.epochs == 2.0 and isinstance(cfg.dpo.epochs, float)
    assert cfg.env.train_tasks == 4 and isinstance(cfg.env.train_tasks, int)
    with pytest.raises(ValueError, match=r"'dpo.beta' must be a number, got 'abc'"):
        load_config(None, ["dpo.beta=abc"])
    with pytest.raises(ValueError, match=r"'env.train_tasks' must be an integer"):
        load_config(None, ["env.train_tasks=2.5"])
    with pytest.raises(ValueError, match=r"'evaluate' must be true or false"):
        config_from_dict({"evaluate": "yes please"})
    with pytest.raises(ValueError, match=r"'sft.epochs' cannot be null"):
        config_from_dict({"sft": {"epochs": None}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("dpo:\n  beta: [1, 2]\n")
    with pytest.raises(ValueError, match=r"'dpo.beta' must be a number"):
        load_config(bad)


def test_select_task_ids():
    from trainers.task_selection import select_task_ids

    ids = [f"{t}-{i}" for t in "abc" for i in range(5)]
    types = {i: i[0] for i in ids}
    picked = select_task_ids(ids, 6, seed=0, types=types)
    assert sorted(t[0] for t in picked) == ["a", "a", "b", "b", "c", "c"] and picked == sorted(picked)
    assert picked == select_task_ids(ids, 6, seed=0, types=types)  # seeded
    assert any(select_task_ids(ids, 6, seed=s, types=types) != picked for s in range(1, 5))
    assert sorted({t[0] for t in select_task_ids(ids, 2, seed=3, types=types)}) != ["a"]  # not the first two ids
    assert select_task_ids(ids, 3, seed=0, how="first") == ids[:3]
    assert len(set(select_task_ids(ids, 4, seed=0, how="random"))) == 4
    assert select_task_ids(ids, 0, seed=0) == ids and select_task_ids(ids, 99, seed=0) == ids
    few = {**types, "c-0": "d"}  # a type with one task gives its remaining share to the others
    assert len(select_task_ids(ids, 12, seed=0, types=few)) == 12
    with pytest.raises(ValueError, match="env.task_selection must be one of"):
        config_from_dict({"env": {"task_selection": "best"}})


def test_hpl_tiny_tasks_are_stratified_by_type():
    """Issue 16.3: hpl_tiny.yaml's 6 training games cover the six task types (not only look_at_obj_in_light)."""
    from agent_gym.alfworld.data import task_type_of

    overrides: list[str] = []
    cfg = load_config(REPO / "assets/configs/hpl_tiny.yaml", overrides)
    assert cfg.env.task_selection == "stratified"
    tasks = Pipeline(cfg)._tasks(False)
    assert len(tasks) == cfg.env.train_tasks == 6
    assert len({task_type_of(t) for t in tasks}) == 6
    assert tasks == Pipeline(cfg)._tasks(False)
    assert Pipeline(load_config(REPO / "assets/configs/hpl_tiny.yaml", overrides + ["seed=1"]))._tasks(False) != tasks
    first = Pipeline(load_config(REPO / "assets/configs/hpl_tiny.yaml", overrides + ["env.task_selection=first"]))
    assert {task_type_of(t) for t in first._tasks(False)} == {"look_at_obj_in_light"}  # what the old ids[:n] gave


def test_method_table():
    assert get_method("sft").kind == "sft" and get_method("rft").levels == ("traj",)
    assert get_method("eto").weights == {"bc": 1.0, "traj": 1.0}
    assert get_method("ipr").levels == ("traj", "step")
    assert get_method("hpl").levels == ("traj", "step", "group") and get_method("hpl").curriculum == "dual"
    assert "group" not in get_method("hpl_no_group").weights and get_method("hpl_static").curriculum == "static"
    assert get_method("hpl_uncertainty").segmenter == "uncertainty"
    assert len(METHODS) == 15


def _cfg(run_dir, method="hpl", **explore):
    return config_from_dict(
        {
            "method": method,
            "run_dir": str(run_dir),
            "device": "cpu",
            "env": {"env_id": ENV_ID, "max_episode_steps": 6, "train_tasks": 2, "eval_tasks": 1, "num_envs": 2},
            "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
            "sft": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3},
            "explore": {"mc_rollouts": 2, "segmenter": "fixed_k", "segmenter_args": {"k": 2}, **explore},
            "dpo": {"batch_size": 4, "learning_rate": 1e-4},
        }
    )


def test_pipeline_end_to_end_and_resume(tmp_path):
    run = tmp_path / "hpl"
    logs: list[str] = []
    state = run_pipeline(_cfg(run), log=logs.append)
    stages = state["stages"]
    assert list(stages) == ["demos", "sft", "explore", "curriculum", "reference", "train", "evaluate"]
    assert stages["demos"]["kept"] == 2
    levels = stages["explore"]["levels"]
    for lv in ("traj", "step", "group"):
        assert levels[lv]["pairs"] > 0 and levels[lv]["llm_calls"] > 0 and levels[lv]["env_steps"] > 0
        for pair in read_jsonl(run / "pairs" / f"{lv}.ref.jsonl"):
            assert pair["ref_chosen"] < 0 and pair["ref_rejected"] < 0
    groups = read_jsonl(run / "pairs" / "group.jsonl")
    assert all(len(p["bucket"]) == 2 for p in groups)
    assert sum(map(sum, stages["curriculum"]["counts"])) == len(groups)
    assert (run / "curriculum_heatmap.png").read_bytes()[:4] == b"\x89PNG"
    assert stages["train"]["phases"] == 3 and stages["train"]["optimizer_steps"] > 0
    assert (run / "policy" / "config.json").exists()
    assert 0.0 <= stages["evaluate"]["success_rate"] <= 1.0
    assert stages["evaluate"]["avg_reward"] == json.loads((run / "eval" / "metrics.json").read_text())["avg_reward"]
    assert json.loads((run / "eval" / "metrics.json").read_text())["tasks"] == 1
    # rerun: every stage is skipped
    logs.clear()
    run_pipeline(_cfg(run), log=logs.append)
    assert sum("skipped" in line for line in logs) == 7
    # other methods reuse demos/pi_ref/exploration and train on their own terms
    eto = tmp_path / "eto"
    reuse_stages(run, eto, ["demos", "sft", "explore", "reference"])
    logs.clear()
    st = run_pipeline(_cfg(eto, "eto"), log=logs.append)
    assert [line for line in logs if "running" in line] == ["[train] running", "[evaluate] running"]
    assert st["stages"]["train"]["weights"] == {"bc": 1.0, "traj": 1.0}
    assert st["stages"]["train"]["curriculum"] is None
    # BC-only control: the composite loop with the DPO weight set to 0 trains on the demonstrations only
    bc_only = tmp_path / "bc_only"
    reuse_stages(run, bc_only, ["demos", "sft", "explore", "reference"])
    cfg = _cfg(bc_only, "eto")
    cfg.dpo.weights = {"traj": 0.0}
    st = run_pipeline(cfg, until="train", log=lambda s: None)["stages"]["train"]
    assert st["weights"] == {"bc": 1.0, "traj": 0.0} and st["items_per_phase"] == [stages["demos"]["kept"]]
    history = read_jsonl(bc_only / "composite" / "history.jsonl")
    assert history and all(set(h) >= {"loss_bc"} and "loss_traj" not in h for h in history)


def test_sft_method_and_redo(tmp_path):
    run = tmp_path / "sft"
    state = run_pipeline(_cfg(run, "sft"), log=lambda s: None)
    assert list(state["stages"]) == ["demos", "sft", "train", "evaluate"]
    logs: list[str] = []
    run_pipeline(_cfg(run, "sft"), redo_from="evaluate", log=logs.append)
    assert [line for line in logs if "running" in line] == ["[evaluate] running"]
    with pytest.raises(ValueError, match="not part of method"):
        run_pipeline(_cfg(run, "sft"), until="curriculum")


def test_stage_registry_is_the_one_stage_list(tmp_path):
    # every registered stage has its method, and every stage method is registered
    assert {n for n in dir(Pipeline) if n.startswith("stage_")} == {f"stage_{n}" for n in STAGES}
    assert set(TRAINING_STAGES) | set(SHARDED_STAGES) | {"curriculum"} == set(STAGES)
    assert not set(TRAINING_STAGES) & set(SHARDED_STAGES)
    # the full method runs them all; every method runs a part of them, in registry order
    assert Pipeline(_cfg(tmp_path, "hpl")).stages == list(STAGES)
    for name in METHODS:
        stages = Pipeline(_cfg(tmp_path, name)).stages
        assert stages == [s for s in STAGES if s in stages] and {"demos", "sft", "train", "evaluate"} <= set(stages)
    # docs/hpl.md's stage table lists the same stages in the same order
    table = (REPO / "docs" / "hpl.md").read_text().split("| stage | what | outputs |\n|---|---|---|\n")[1]
    rows = [line.split("|")[1].strip().strip("`") for line in table.split("\n\n")[0].splitlines()]
    assert rows == list(STAGES)


def _recording_pipeline(run: Path, calls: list[str]) -> Pipeline:
    pipe = Pipeline(_cfg(run, "hpl"), log=lambda s: None)
    for name in STAGES:
        setattr(pipe, f"stage_{name}", lambda name=name: calls.append(name) or {})
    return pipe


@pytest.mark.parametrize("until", STAGES)
def test_until_every_stage_runs_up_to_it_and_redo_cleans_the_rest(tmp_path, until):
    calls: list[str] = []
    run = tmp_path / "run"
    _recording_pipeline(run, calls).run_all(until=until)
    assert calls == list(STAGES[: STAGES.index(until) + 1])
    # finished stages are skipped on resume; the rest runs
    calls.clear()
    _recording_pipeline(run, calls).run_all()
    assert calls == list(STAGES[STAGES.index(until) + 1 :])
    # --redo-from deletes the outputs of that stage and of every later one, and nothing earlier
    for st in STAGE_REGISTRY.values():
        for name in st.outputs + st.scratch:
            (run / name).mkdir(parents=True, exist_ok=True)
    calls.clear()
    _recording_pipeline(run, calls).run_all(redo_from=until)
    assert calls == list(STAGES[STAGES.index(until) :])
    for i, st in enumerate(STAGE_REGISTRY.values()):
        for name in st.outputs + st.scratch:
            assert (run / name).exists() == (i < STAGES.index(until)), (until, name)


def test_unknown_stage_is_refused_with_the_list(tmp_path, capsys):
    from scripts.hpl import main

    for key in ("until", "redo_from"):
        with pytest.raises(ValueError, match="unknown stage 'explroe'; the stages are: demos, sft, explore"):
            run_pipeline(_cfg(tmp_path / "run"), **{key: "explroe"}, log=lambda s: None)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    args = ["--config", str(REPO / "assets/configs/hpl_tiny.yaml"), "--run-dir", str(tmp_path / "cli")]
    assert main([*args, "--until", "explroe"]) == 2
    assert "unknown stage 'explroe'; the stages are: " + ", ".join(STAGES) in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        reuse_stages(tmp_path / "a", tmp_path / "b", ["nope"])


def test_old_statistic_names_are_read_under_the_new_ones(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    old = {"stages": {"evaluate": {"done": True, "mean_reward": 0.25, "mean_steps": 3.0, "success_rate": 0.0}}}
    (run / "state.json").write_text(json.dumps(old))
    ev = Pipeline(_cfg(run)).state()["stages"]["evaluate"]
    assert ev["avg_reward"] == 0.25 and ev["avg_steps"] == 3.0 and "mean_reward" not in ev


def test_reuse_stages_links_the_registered_outputs(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    calls: list[str] = []
    _recording_pipeline(src, calls).run_all(until="reference")
    for name in STAGE_REGISTRY["explore"].outputs:
        (src / name).mkdir(parents=True)
    reuse_stages(src, dst, ["demos", "explore"])
    assert all((dst / n).is_symlink() for n in STAGE_REGISTRY["explore"].outputs)
    calls.clear()
    _recording_pipeline(dst, calls).run_all(until="reference")
    assert calls == ["sft", "curriculum", "reference"]


def test_cli_list_methods_and_bad_config(capsys, tmp_path):
    from scripts.hpl import main

    assert main(["--list-methods"]) == 0
    assert "hpl_no_group" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("metod: hpl\n")
    assert main(["--config", str(bad)]) == 2
    assert "unknown config key 'metod'" in capsys.readouterr().err
    # a wrong type is refused at load, before the demos stage makes anything
    assert (
        main(
            [
                "--config",
                str(REPO / "assets/configs/hpl_tiny.yaml"),
                "--set",
                "dpo.beta=abc",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "config key 'dpo.beta' must be a number, got 'abc'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_pipeline_end_to_end_real_alfworld(tmp_path, alfworld_data_root):
    """The whole HPL pipeline on two real ALFWorld games (tiny model, short episodes)."""
    cfg = config_from_dict(
        {
            "method": "hpl",
            "run_dir": str(tmp_path / "alf"),
            "device": "cpu",
            "env": {
                "env_id": "ALFWorld-Text-v0",
                "kwargs": {"data_dir": str(alfworld_data_root), "split": "valid_seen"},
                "max_episode_steps": 6,
                "train_tasks": 2,
                "eval_tasks": 1,
                "num_envs": 2,
                "task_selection": "first",
            },  # the first games are short enough for 6 steps
            "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
            "sft": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3},
            "explore": {"mc_rollouts": 1, "segmenter": "fixed_n", "segmenter_args": {"n": 2}},
            "dpo": {"batch_size": 4, "learning_rate": 1e-4},
        }
    )
    state = run_pipeline(cfg, log=lambda s: None)
    st = state["stages"]
    assert st["demos"]["kept"] == 2 and st["explore"]["levels"]["group"]["pairs"] > 0
    assert st["train"]["optimizer_steps"] > 0 and st["evaluate"]["tasks"] == 1


def test_task_pattern_selects_tasks():
    pytest.importorskip("textworld")
    base = {
        "env": {
            "env_id": "ALFWorld-Text-v0",
            "kwargs": {"split": "train"},
            "train_tasks": 3,
            "task_pattern": "^pick_and_place_simple",
        }
    }
    tasks = Pipeline(config_from_dict(base))._tasks(False)
    assert len(tasks) == 3 and all(t.startswith("pick_and_place_simple-") for t in tasks)
    everything = Pipeline(config_from_dict({**base, "env": {**base["env"], "train_tasks": 0}}))._tasks(False)
    assert len(everything) > 3 and all(t.startswith("pick_and_place_simple-") for t in everything)
    with pytest.raises(ValueError, match="matches none"):
        Pipeline(config_from_dict({**base, "env": {**base["env"], "task_pattern": "^no_such_type"}}))._tasks(False)
    with pytest.raises(ValueError, match="not a valid regex"):
        Pipeline(config_from_dict({**base, "env": {**base["env"], "task_pattern": "(["}}))._tasks(False)


def test_tiny_model_options_and_explore_subset(tmp_path):
    """policy.tiny sizes the base model and fits its tokenizer to D_expert; explore.demos limits exploration."""
    from transformers import AutoConfig, AutoTokenizer

    with pytest.raises(ValueError, match="unknown policy.tiny keys"):
        config_from_dict({"policy": {"tiny": {"hidden": 64}}})
    with pytest.raises(ValueError, match="explore.demos"):
        config_from_dict({"explore": {"demos": -1}})
    data = {
        "method": "ipr",
        "run_dir": str(tmp_path / "run"),
        "device": "cpu",
        "env": {"env_id": ENV_ID, "max_episode_steps": 6, "train_tasks": 2, "eval_tasks": 1, "num_envs": 2},
        "policy": {
            "model": "tiny",
            "max_new_tokens": 8,
            "history_window": None,
            "tiny": {
                "hidden_size": 192,
                "num_layers": 1,
                "num_heads": 3,
                "intermediate_size": 256,
                "fit_tokenizer": True,
            },
        },
        "sft": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3},
        "explore": {"mc_rollouts": 1, "demos": 1},
        "dpo": {"batch_size": 4, "learning_rate": 1e-4},
    }
    state = run_pipeline(config_from_dict(data), log=lambda s: None, until="explore")
    base = tmp_path / "run" / "base_model"
    conf = AutoConfig.from_pretrained(base)
    assert (conf.hidden_size, conf.num_hidden_layers, conf.num_attention_heads, conf.intermediate_size) == (
        192,
        1,
        3,
        256,
    )
    # the demonstrations were added to the tokenizer's corpus: other merges than the plain tiny tokenizer
    plain = AutoTokenizer.from_pretrained(build_plain_tiny(tmp_path / "plain"))
    assert AutoTokenizer.from_pretrained(base).get_vocab() != plain.get_vocab()
    assert state["stages"]["demos"]["kept"] == 2
    # one demonstration explored: the trajectory level had exactly one candidate
    assert state["stages"]["explore"]["levels"]["traj"]["candidates"] == 1


def build_plain_tiny(path, **kwargs):
    from trainers.models import build_tiny_model

    return build_tiny_model(path, **kwargs)


def test_tiny_tokenizer_learns_task_words(tmp_path):
    from transformers import AutoTokenizer

    text = "You arrive at zorblaxtron 7. On the zorblaxtron 7, you see a quuxwidget 2."
    fitted = AutoTokenizer.from_pretrained(build_plain_tiny(tmp_path / "fit", tokenizer_texts=[text] * 50))
    plain = AutoTokenizer.from_pretrained(build_plain_tiny(tmp_path / "plain"))
    assert len(fitted(" zorblaxtron")["input_ids"]) == 1 < len(plain(" zorblaxtron")["input_ids"])
    assert fitted.decode(fitted(text)["input_ids"]) == text


def test_rft_method_trains_further_epochs_from_pi_ref(tmp_path):
    run = tmp_path / "rft"
    stages = run_pipeline(_cfg(run, "rft"), log=lambda s: None)["stages"]
    assert list(stages) == ["demos", "sft", "explore", "train", "evaluate"]  # RFT needs no reference pass
    train = stages["train"]
    # RFT = further SFT epochs from pi_ref on D_expert + pi_ref's own successes (none for the untrained model)
    assert train["data/kept"] == stages["demos"]["kept"] + train["own_successes"]
    assert train["steps"] >= 1 and (run / "policy" / "config.json").exists()
    assert (run / "tracking").exists() is False  # report_to defaults to none: no tracking folder
