"""Reading YAML run configs with one-line errors (shared by the trainers' config loaders)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, TypeVar

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


def coerce_value(annotation: Any, value: Any, key: str) -> Any:
    """``value`` checked (and converted where lossless) against a dataclass field's type annotation.

    ``annotation`` is the field's ``type`` (a string under ``from __future__ import annotations``,
    e.g. ``"float | None"``). Integers stay integers (``2.0`` becomes ``2``), numbers become
    floats where a float is wanted (also the strings YAML 1.1 leaves unparsed, such as ``1e-5``),
    and a wrong type raises ``ValueError`` naming ``key``. A union (``list[str] | str``) takes a
    value that fits any of its members; only the outer type is checked (not list items).
    """
    ann = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    members = [m.strip() for m in ann.split("|")]
    if value is None:
        if "None" not in members and "Any" not in members:
            raise ValueError(f"config key {key!r} cannot be null")
        return value
    first_error: ValueError | None = None
    for member in members:
        if member == "None":
            continue
        try:
            return _coerce_one(member, value, key)
        except ValueError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return value


def _coerce_one(ann: str, value: Any, key: str) -> Any:
    if ann.startswith("int") and not isinstance(value, bool):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise ValueError(f"config key {key!r} must be an integer, got {value!r}")
    elif ann.startswith("int"):
        raise ValueError(f"config key {key!r} must be an integer, got {value!r}")
    elif ann.startswith("float"):
        if isinstance(value, str):  # YAML 1.1 reads 3e-6 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"config key {key!r} must be a number, got {value!r}")
        value = float(value)
    elif ann.startswith("bool") and not isinstance(value, bool):
        raise ValueError(f"config key {key!r} must be true or false, got {value!r}")
    elif ann.startswith("str") and not isinstance(value, str):
        raise ValueError(f"config key {key!r} must be a string, got {value!r}")
    elif ann.startswith("dict") and not isinstance(value, dict):
        raise ValueError(f"config key {key!r} must be a mapping, got {value!r}")
    elif ann.startswith("list") and not isinstance(value, list):
        raise ValueError(f"config key {key!r} must be a list, got {value!r}")
    return value


__all__ = ["coerce_value", "parse_yaml_value", "read_yaml_mapping", "yaml_problem"]


_Settings = TypeVar("_Settings")


def settings_from_value(cls: type[_Settings], value: Any, where: str) -> _Settings:
    """A settings dataclass from a config value: ``None`` gives its defaults, an instance is kept,
    a mapping is checked for unknown keys (the message names the valid ones); the dataclass's
    ``__post_init__`` validates the values."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a mapping of settings, got {value!r}")
    known = sorted(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; known: {known}")
    return cls(**dict(value))
