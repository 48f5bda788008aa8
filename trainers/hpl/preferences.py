"""HPL preference pairs as Hugging Face ``datasets``: one schema, a loader, an export with a dataset card.

Exploration writes one JSON-lines file per level in ``<run>/pairs/``: ``traj.jsonl``
(ETO), ``step.jsonl`` (IPR) and ``group.jsonl`` (HPL), and the reference stage adds
``<level>.ref.jsonl`` with pi_ref's log-probs. Every level has the same columns
(:data:`PAIR_COLUMNS`, plus :data:`REFERENCE_COLUMNS` in the ``.ref`` files) with the
same types, so the files load together::

    datasets.load_dataset("json", data_files=[f"{run}/pairs/{lv}.jsonl" for lv in ("traj", "step", "group")])

An empty level is a 0-byte file, which ``load_dataset`` skips among other files; a split
with no rows cannot be built by ``load_dataset`` itself, so :func:`load_preferences`
(which returns every level, an empty one as an empty split with the schema) is the
loader to use for a run folder. :func:`export_preferences` saves that
``DatasetDict`` with ``save_to_disk`` beside a dataset card (``README.md``) and, when
asked, pushes both to the Hugging Face Hub.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agent_gym.fileio import atomic_write_text
from trainers.hpl import curriculum as cur

if TYPE_CHECKING:
    from datasets import DatasetDict, Features

LEVELS = ("traj", "step", "group")

#: The columns of every preference pair, in file order:
#: ``level`` (traj/step/group), ``pair_id``, ``task_id``, ``env_id``; ``start`` (the step where
#: the two continuations part), ``length`` / ``length_rejected`` (steps of the chosen /
#: rejected continuation); ``prompt`` (the shared chat context), ``chosen`` / ``rejected``
#: (chat messages: assistant outputs with the observations between them);
#: ``reward_chosen`` / ``reward_rejected``; ``bucket`` (``[i, j]``: the curriculum cell of
#: ``length`` and the reward gap; the curriculum schedules the group pairs by it).
PAIR_COLUMNS = (
    "level",
    "pair_id",
    "task_id",
    "env_id",
    "start",
    "length",
    "length_rejected",
    "prompt",
    "chosen",
    "rejected",
    "reward_chosen",
    "reward_rejected",
    "bucket",
)
#: Added by the reference stage: pi_ref's summed agent-token log-probs of ``chosen`` / ``rejected``.
REFERENCE_COLUMNS = ("ref_chosen", "ref_rejected")


def pair_features(reference: bool = False) -> Features:
    """The ``datasets.Features`` of a pair row (with :data:`REFERENCE_COLUMNS` when ``reference``)."""
    from datasets import Features, List, Value

    messages = List({"role": Value("string"), "content": Value("string")})
    types = {
        "level": Value("string"),
        "pair_id": Value("string"),
        "task_id": Value("string"),
        "env_id": Value("string"),
        "start": Value("int64"),
        "length": Value("int64"),
        "length_rejected": Value("int64"),
        "prompt": messages,
        "chosen": messages,
        "rejected": messages,
        "reward_chosen": Value("float64"),
        "reward_rejected": Value("float64"),
        "bucket": List(Value("int64")),
    }
    if reference:
        types.update({"ref_chosen": Value("float64"), "ref_rejected": Value("float64")})
    return Features(types)


def level_path(run_dir: str | os.PathLike, level: str, reference: bool = False) -> Path:
    """``<run>/pairs/<level>.jsonl`` (``<level>.ref.jsonl`` when ``reference``)."""
    return Path(run_dir) / "pairs" / f"{level}{'.ref' if reference else ''}.jsonl"


def _read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"{path} line {n} is not valid JSON ({exc.msg}); rerun the stage that wrote it"
                ) from None
            rows.append({c: row.get(c) for c in columns})  # files of older runs may lack a column: null
    return rows


def load_preferences(
    run_dir: str | os.PathLike, levels: Sequence[str] | None = None, reference: bool = False
) -> DatasetDict:
    """The preference pairs of an HPL run folder as a ``DatasetDict`` with one split per level.

    ``levels``: the levels to load (default: every level whose file exists). ``reference``:
    load the ``.ref.jsonl`` files, which add ``ref_chosen`` / ``ref_rejected``. Every split has
    :func:`pair_features`; an empty level is an empty split. Raises ``FileNotFoundError``
    naming the stage to run when a requested level (or any level) has no file.
    """
    from datasets import Dataset, DatasetDict

    run = Path(run_dir)
    stage = "reference" if reference else "explore"
    if levels is None:
        levels = [lv for lv in LEVELS if level_path(run, lv, reference).is_file()]
        if not levels:
            raise FileNotFoundError(
                f"{run / 'pairs'} holds no {'.ref.' if reference else ''}jsonl preference files; "
                f"run the HPL pipeline through its {stage!r} stage first (agent-gym hpl --until {stage})"
            )
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown preference level(s) {unknown}; choose from {list(LEVELS)}")
    features = pair_features(reference)
    splits = {}
    for lv in levels:
        path = level_path(run, lv, reference)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist; the run's method has no {lv!r} level or its {stage!r} stage has not run"
            )
        rows = _read_rows(path, list(features))
        splits[lv] = Dataset.from_dict({c: [r[c] for r in rows] for c in features}, features=features)
    return DatasetDict(splits)


def _run_config(run: Path) -> dict[str, Any]:
    path = run / "config.yaml"
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def _count_lines(path: Path) -> int | None:
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def card_facts(run_dir: str | os.PathLike, dsd: DatasetDict) -> dict[str, Any]:
    """What the dataset card states: env, split, data, pi_ref, method, counts per level, group buckets."""
    run = Path(run_dir)
    cfg = _run_config(run)
    env = cfg.get("env", {})
    kwargs = env.get("kwargs") or {}
    model = (cfg.get("policy") or {}).get("model", "unknown")
    curriculum_file = run / "curriculum.json"
    curriculum = json.loads(curriculum_file.read_text(encoding="utf-8")) if curriculum_file.is_file() else {}
    group_buckets = cur.bucket_counts(b for b in dsd["group"]["bucket"] if b) if "group" in dsd else None
    return {
        "env_id": env.get("env_id", "unknown"),
        "split": kwargs.get("split", "the env's default split"),
        "data": kwargs.get("data_dir", "the env's embedded/generated default data"),
        "method": cfg.get("method", "unknown"),
        "base_model": "the tiny test model (trainers.models.build_tiny_model)" if model == "tiny" else model,
        "demonstrations": _count_lines(run / "demos" / "expert.jsonl"),
        "counts": {lv: ds.num_rows for lv, ds in dsd.items()},
        "group_buckets": group_buckets,
        "length_thresholds": curriculum.get("length_thresholds"),
        "gap_thresholds": curriculum.get("gap_thresholds", list(cur.GAP_THRESHOLDS)),
        "curriculum": curriculum.get("curriculum"),
        "pairs_per_phase": curriculum.get("pairs_per_phase"),
    }


def dataset_card(run_dir: str | os.PathLike, dsd: DatasetDict) -> str:
    """A short dataset card (Markdown with a YAML header) for the preference pairs of ``run_dir``."""
    f = card_facts(run_dir, dsd)
    header = yaml.safe_dump(
        {"tags": ["agent-gym", "hpl", "preference", "dpo"], "task_categories": ["text-generation"]}, sort_keys=False
    )
    lines = [
        "---",
        header.rstrip(),
        "---",
        "",
        f"# HPL preference pairs: {f['env_id']}",
        "",
        "Preference pairs from one-shot exploration with pi_ref in an agent-gym HPL run "
        "(trajectory, step and group level), one split per level, all with the same columns.",
        "",
        f"- env: `{f['env_id']}`, split: {f['split']}, data: {f['data']}",
        f"- pi_ref: behaviour cloning (SFT) of {f['base_model']} on "
        f"{f['demonstrations'] if f['demonstrations'] is not None else 'the'} expert demonstrations",
        f"- method of the run: `{f['method']}`",
        "",
        "| level | pairs |",
        "|---|---|",
    ]
    lines += [f"| {lv} | {n} |" for lv, n in f["counts"].items()]
    if f["group_buckets"] is not None:
        lines += [
            "",
            "Curriculum buckets of the group pairs (row i: group length, column j: reward gap; "
            f"length thresholds {f['length_thresholds'] or 'of the env family'}, gap thresholds {f['gap_thresholds']}):",
            "",
            "| | j=1 | j=2 | j=3 |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| i={i + 1} | " + " | ".join(str(n) for n in row) + " |" for i, row in enumerate(f["group_buckets"])
        ]
        if f["pairs_per_phase"]:
            lines += ["", f"Group pairs per phase of the `{f['curriculum']}` curriculum: {f['pairs_per_phase']}"]
    lines += [
        "",
        "Columns: " + ", ".join(f"`{c}`" for c in dsd[next(iter(dsd))].column_names) + ".",
        "`prompt`, `chosen` and `rejected` are chat messages; `chosen` / `rejected` continue `prompt` "
        "from step `start`. Load with `datasets.load_from_disk` (a saved copy) or "
        "`trainers.hpl.preferences.load_preferences(RUN_DIR)`.",
        "",
    ]
    return "\n".join(lines)


def export_preferences(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    reference: bool = False,
    push_to_hub: str | None = None,
    private: bool = True,
    token: str | None = None,
) -> DatasetDict:
    """Save the run's pairs (:func:`load_preferences`) to ``out_dir`` with a dataset card ``README.md``.

    ``save_to_disk`` writes the splits; ``datasets.load_from_disk(out_dir)`` reads them back.
    With ``push_to_hub="user/name"`` the ``DatasetDict`` is also pushed to that Hub dataset
    repository (``private`` by default) and its README replaced by the card.
    """
    dsd = load_preferences(run_dir, reference=reference)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not (out / "dataset_dict.json").is_file():
        raise FileExistsError(f"{out} exists and is not a saved dataset; choose an empty or new folder")
    card = dataset_card(run_dir, dsd)
    dsd.save_to_disk(str(out))
    atomic_write_text(out / "README.md", card)
    if push_to_hub:
        from huggingface_hub import HfApi

        dsd.push_to_hub(push_to_hub, private=private, token=token)
        HfApi(token=token).upload_file(
            path_or_fileobj=card.encode("utf-8"),
            path_in_repo="README.md",
            repo_id=push_to_hub,
            repo_type="dataset",
            commit_message="dataset card (agent-gym)",
        )
    return dsd


__all__ = [
    "LEVELS",
    "PAIR_COLUMNS",
    "REFERENCE_COLUMNS",
    "card_facts",
    "dataset_card",
    "export_preferences",
    "level_path",
    "load_preferences",
    "pair_features",
]
