"""HPL preference pairs as datasets: one schema for every level, empty levels, loader, export, card.

One real pipeline run (tiny model, toy corridor env) through the reference stage provides the files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import gymnasium as gym
import pytest

from scripts import cli
from trainers.hpl.config import config_from_dict
from trainers.hpl.pipeline import read_jsonl, run_pipeline, write_jsonl
from trainers.hpl.preferences import (
    LEVELS,
    PAIR_COLUMNS,
    REFERENCE_COLUMNS,
    export_preferences,
    level_path,
    load_preferences,
    pair_features,
)

ENV_ID = "HPLCorridor-v0"
if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="tests.toy_env:CorridorEnv")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("prefs") / "hpl"
    cfg = config_from_dict(
        {
            "method": "hpl",
            "run_dir": str(run),
            "device": "cpu",
            "env": {"env_id": ENV_ID, "max_episode_steps": 6, "train_tasks": 2, "eval_tasks": 1, "num_envs": 2},
            "policy": {"model": "tiny", "max_new_tokens": 8, "history_window": None},
            "sft": {"epochs": 1, "batch_size": 4, "learning_rate": 1e-3},
            "explore": {"mc_rollouts": 2, "segmenter": "fixed_k", "segmenter_args": {"k": 2}},
        }
    )
    run_pipeline(cfg, until="reference", log=lambda s: None)
    return run


def _files(run: Path, reference: bool = False) -> list[str]:
    return [str(level_path(run, lv, reference)) for lv in LEVELS]


def test_every_level_has_the_same_columns_and_types(run):
    for lv in LEVELS:
        rows = read_jsonl(level_path(run, lv))
        assert rows, f"the run has no {lv} pairs"
        for row in rows:
            assert tuple(row) == PAIR_COLUMNS and row["level"] == lv
            assert all(v is not None for v in row.values())
            assert len(row["bucket"]) == 2 and row["length_rejected"] >= 1
        for row in read_jsonl(level_path(run, lv, reference=True)):
            assert tuple(row) == PAIR_COLUMNS + REFERENCE_COLUMNS


@pytest.mark.parametrize("reference", [False, True])
def test_load_dataset_json_reads_all_levels_together(run, reference, tmp_path):
    files = _files(run, reference)
    n = sum(len(read_jsonl(Path(f))) for f in files)
    for order in (files, files[::-1]):
        ds = datasets.load_dataset("json", data_files=order, split="train", cache_dir=str(tmp_path))
        assert ds.num_rows == n and set(ds["level"]) == set(LEVELS)
    assert set(ds.column_names) == set(pair_features(reference))


def test_an_empty_level_is_a_valid_file(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run / "pairs", copy / "pairs")
    write_jsonl(level_path(copy, "step"), [])  # what exploration writes when a level has no pairs
    assert level_path(copy, "step").stat().st_size == 0
    for files in (_files(copy), _files(copy)[::-1]):
        ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path))
        assert "step" not in set(ds["level"]) and ds.num_rows == sum(len(read_jsonl(Path(f))) for f in files)
    dsd = load_preferences(copy)
    assert dsd["step"].num_rows == 0 and dsd["step"].features == pair_features()
    assert dsd["traj"].num_rows > 0


def test_load_preferences_returns_a_datasetdict(run):
    dsd = load_preferences(run)
    assert isinstance(dsd, datasets.DatasetDict) and list(dsd) == list(LEVELS)
    for lv, ds in dsd.items():
        assert ds.features == pair_features()
        assert ds.num_rows == len(read_jsonl(level_path(run, lv)))
        assert ds[0]["prompt"][0]["role"] == "system" and ds[0]["chosen"][0]["role"] == "assistant"
    ref = load_preferences(run, levels=["group"], reference=True)
    assert list(ref) == ["group"] and all(x < 0 for x in ref["group"]["ref_chosen"])
    # datasets' own DPO-style access: one level, filtered on a column shared by all levels
    easy = dsd["group"].filter(lambda r: r["bucket"][1] == 1)
    assert easy.num_rows == sum(1 for r in read_jsonl(level_path(run, "group")) if r["bucket"][1] == 1)


def test_load_preferences_errors_say_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="--until explore"):
        load_preferences(tmp_path)
    (tmp_path / "pairs").mkdir()
    level_path(tmp_path, "traj").write_text("")
    with pytest.raises(ValueError, match="unknown preference level"):
        load_preferences(tmp_path, levels=["trajectory"])
    with pytest.raises(FileNotFoundError, match="no 'group' level"):
        load_preferences(tmp_path, levels=["group"])
    level_path(tmp_path, "traj").write_text('{"level": "traj"\n')
    with pytest.raises(ValueError, match="line 1 is not valid JSON"):
        load_preferences(tmp_path)


def test_files_of_older_runs_load_with_nulls(tmp_path):
    """Pairs written before the shared schema (no length_rejected / bucket in traj) still load."""
    old = {
        "level": "traj",
        "pair_id": "traj/0",
        "task_id": "0",
        "env_id": ENV_ID,
        "start": 0,
        "length": 2,
        "prompt": [{"role": "user", "content": "go"}],
        "chosen": [{"role": "assistant", "content": "a"}],
        "rejected": [{"role": "assistant", "content": "b"}],
        "reward_chosen": 1.0,
        "reward_rejected": 0.0,
    }
    (tmp_path / "pairs").mkdir()
    write_jsonl(level_path(tmp_path, "traj"), [old])
    ds = load_preferences(tmp_path)["traj"]
    assert ds[0]["bucket"] is None and ds[0]["length_rejected"] is None and ds[0]["length"] == 2


def test_export_saves_to_disk_with_a_card(run, tmp_path):
    out = tmp_path / "export"
    dsd = export_preferences(run, out)
    back = datasets.load_from_disk(str(out))
    assert {lv: back[lv].num_rows for lv in back} == {lv: dsd[lv].num_rows for lv in dsd}
    assert back["group"][0] == dsd["group"][0]
    card = (out / "README.md").read_text()
    curriculum = json.loads((run / "curriculum.json").read_text())
    assert f"env: `{ENV_ID}`" in card and "split: the env's default split" in card
    assert "pi_ref: behaviour cloning (SFT) of the tiny test model" in card and "on 2 expert demonstrations" in card
    for lv in LEVELS:
        assert f"| {lv} | {dsd[lv].num_rows} |" in card
    for i, row in enumerate(curriculum["counts"]):
        assert f"| i={i + 1} | " + " | ".join(map(str, row)) + " |" in card
    assert f"{curriculum['pairs_per_phase']}" in card
    # exporting again over the same folder replaces it; a folder holding something else is refused
    export_preferences(run, out)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a saved dataset"):
        export_preferences(run, other)


def test_export_pushes_dataset_and_card_when_asked(run, tmp_path, monkeypatch):
    """No network in tests: the two Hub calls are recorded, not sent."""
    import huggingface_hub

    calls = []
    monkeypatch.setattr(
        datasets.DatasetDict,
        "push_to_hub",
        lambda self, repo_id, **kw: calls.append(("push", repo_id, kw, {k: v.num_rows for k, v in self.items()})),
    )
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_file", lambda self, **kw: calls.append(("card", kw)))
    dsd = export_preferences(run, tmp_path / "export", push_to_hub="me/corridor-prefs")
    assert calls[0] == (
        "push",
        "me/corridor-prefs",
        {"private": True, "token": None},
        {k: v.num_rows for k, v in dsd.items()},
    )
    kind, kw = calls[1]
    assert kind == "card" and kw["repo_id"] == "me/corridor-prefs" and kw["repo_type"] == "dataset"
    assert (
        kw["path_in_repo"] == "README.md" and kw["path_or_fileobj"] == (tmp_path / "export" / "README.md").read_bytes()
    )


def test_export_command(run, tmp_path, capsys):
    out = tmp_path / "cli_export"
    assert cli.main(["export-preferences", str(run), "--out", str(out), "--reference"]) == 0
    assert "exported traj" in capsys.readouterr().out
    assert set(datasets.load_from_disk(str(out))["traj"].column_names) >= set(REFERENCE_COLUMNS)
    assert cli.main(["export-preferences", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_demonstrations_load_into_trl_sfttrainer(run, tmp_path):
    """D_expert conversations (demos/expert_conversations.jsonl) go straight into TRL's SFTTrainer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    ds = datasets.load_dataset(
        "json",
        data_files=str(run / "demos" / "expert_conversations.jsonl"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    assert ds.num_rows == 2 and ds[0]["messages"][0]["role"] == "system"
    tok = AutoTokenizer.from_pretrained(str(run / "pi_ref"))
    model = AutoModelForCausalLM.from_pretrained(str(run / "pi_ref"))
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        assistant_only_loss=False,
        dataloader_num_workers=0,
        disable_tqdm=True,
        logging_steps=1,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
