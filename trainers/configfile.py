"""Reading YAML run configs with one-line errors (shared by the trainers' config loaders)."""

from __future__ import annotations

import os
from typing import Any

import yaml

from agent_gym.paths import resolve_config


def yaml_problem(exc: yaml.YAMLError) -> str:
    """``"at line L, column C: problem"`` (one line) for a PyYAML error, whose own text spans several lines."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{where}: {problem}"


def read_yaml_mapping(path: str | os.PathLike, examples: str) -> dict[str, Any]:
    """The mapping stored in the YAML file ``path`` (empty file: ``{}``).

    Raises ``FileNotFoundError`` naming ``examples`` (e.g. ``"assets/configs/hgpo_*.yaml"``)
    when the file is missing, ``ValueError`` for invalid YAML or a non-mapping.
    """
    p = resolve_config(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} not found (examples: {examples})")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{p} is not valid YAML{yaml_problem(exc)}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{p} must hold a mapping of config keys, got {type(loaded).__name__}")
    return loaded


def parse_yaml_value(text: str, what: str) -> Any:
    """``text`` parsed as a YAML value (``""`` stays ``""``); ``ValueError`` naming ``what`` when it is not valid YAML."""
    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{what} is not a valid YAML value{yaml_problem(exc)}") from None


__all__ = ["parse_yaml_value", "read_yaml_mapping", "yaml_problem"]
