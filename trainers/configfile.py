"""The one config system of the trainers: typed dataclasses loaded from YAML plus ``--set`` overrides.

A config is a dataclass (TRL style): every field has ``metadata={"help": ...}`` (use
:func:`setting`), a field whose default is a dataclass is a *section* (a nested mapping
in YAML), and each dataclass validates itself in ``__post_init__``. The functions here
are shared by HPL (:class:`trainers.hpl.config.HPLConfig`) and HGPO
(:class:`trainers.hgpo.config.HGPOConfig`), so both follow the same rules:

* :func:`load_config` reads a YAML mapping, applies ``a.b.c=value`` overrides
  (:func:`apply_overrides`, values parsed as YAML) and builds the dataclass tree
  (:func:`build_config`);
* every value is checked against its field's type at load (:func:`coerce_value`:
  ``1e-5`` becomes a float, ``abc`` for a number is refused), before any work;
* an unknown key raises ``ValueError`` naming it and the valid keys of its section;
  a key listed in the config class's ``RENAMED`` table names its new spelling;
* :func:`config_reference` prints every key with its type, default and help
  (``--help-config`` of ``scripts.hpl`` and ``scripts.hgpo``). See docs/config.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
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


_Config = TypeVar("_Config")


def setting(default: Any = dataclasses.MISSING, *, help: str, factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its help text (``metadata={"help": help}``, as TRL's configs do).

    Give ``default`` for an immutable default, ``factory`` for a list, dict or section
    (``factory=EnvConfig``: the field is the section ``env``).
    """
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def section_type(f: dataclasses.Field) -> type | None:
    """The dataclass of a section field (one whose default is made by a dataclass), else ``None``."""
    factory = f.default_factory
    if factory is not dataclasses.MISSING and isinstance(factory, type) and dataclasses.is_dataclass(factory):
        return factory
    return None


def build_config(
    cls: type[_Config], data: Mapping[str, Any] | None, *, renamed: Mapping[str, str] | None = None
) -> _Config:
    """The dataclass ``cls`` built from a (nested) mapping.

    Sections (fields whose default is a dataclass) are built recursively from nested
    mappings (``None``: the section's defaults). Values are coerced and checked by
    :func:`coerce_value`; the dataclasses' ``__post_init__`` validate them. Raises
    ``ValueError`` with a one-line message: an unknown key (with the valid ones), a key
    of ``renamed`` (default: ``cls.RENAMED``; old dotted key -> new dotted key) with its
    new name, a wrong type.
    """
    table = dict(getattr(cls, "RENAMED", {}) if renamed is None else renamed)
    return _build(cls, data, "", table)


def _build(cls: Any, data: Any, where: str, renamed: Mapping[str, str]) -> Any:
    if data is None:
        data = {}
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        what = f"config section {where[:-1]!r}" if where else "a config"
        raise ValueError(f"{what} must be a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}{key}"
        if key not in fields:
            if path in renamed:
                raise ValueError(f"config key {path!r} is now {renamed[path]!r} (renamed; see docs/config.md)")
            section = f" of section {where[:-1]!r}" if where else ""
            raise ValueError(f"unknown config key {path!r}; valid keys{section}: {', '.join(sorted(fields))}")
        sub = section_type(fields[key])
        if sub is not None:
            kwargs[key] = _build(sub, value, path + ".", renamed)
        else:
            kwargs[key] = coerce_value(fields[key].type, value, path)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a value __post_init__ could not handle (its type was checked above)
        raise ValueError(f"config {where[:-1] or 'top level'}: {exc}") from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with dotted overrides applied (in place; also returned).

    ``overrides``: ``["a.b.c=value", ...]`` (each value parsed as YAML: numbers, booleans,
    lists, mappings, ``null``) or a mapping ``{"a.b.c": value}`` of parsed values. A dotted
    key walks into sections, creating them; a part that holds a non-mapping is an error.
    """
    if isinstance(overrides, Mapping):
        items = [(str(k), v) for k, v in overrides.items()]
    else:
        items = []
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} must look like section.key=value (e.g. rl.learning_rate=1e-6)")
            key, raw = item.split("=", 1)
            items.append((key.strip(), parse_yaml_value(raw, f"override {item!r}")))
    for key, value in items:
        *sections, last = key.split(".")
        if not all(sections) or not last:
            raise ValueError(f"override key {key!r} is not a dotted config key (e.g. env.num_envs)")
        node = data
        for depth, part in enumerate(sections):
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ValueError(f"override {key!r}: {'.'.join(sections[: depth + 1])!r} is not a section")
        node[last] = value
    return data


def load_config(
    cls: type[_Config],
    path: str | os.PathLike | None = None,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    *,
    examples: str = "assets/configs/*.yaml",
) -> _Config:
    """``cls`` from the YAML file ``path`` (``None``: the defaults) with ``overrides`` applied.

    The one loader of both trainers: :func:`read_yaml_mapping`, :func:`apply_overrides`,
    :func:`build_config`. ``examples`` is named when the file is missing.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_mapping(path, examples)
    apply_overrides(data, overrides)
    return build_config(cls, data)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as a nested mapping of plain values (what ``build_config`` reads back)."""
    return dataclasses.asdict(cfg)


def iter_settings(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """``(dotted key, field)`` of every setting of ``cls``: its own keys, then each section's (recursively)."""
    out: list[tuple[str, dataclasses.Field]] = []
    sections = []
    for f in dataclasses.fields(cls):
        sub = section_type(f)
        if sub is not None:
            sections.append((f.name, sub))
        elif f.init:
            out.append((f"{prefix}{f.name}", f))
    for name, sub in sections:
        out += iter_settings(sub, f"{prefix}{name}.")
    return out


def _default_text(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return "(required)"
    try:
        return json.dumps(value)  # YAML spelling: null, false, "text", {}
    except TypeError:
        return repr(value)


def config_reference(cls: type, title: str = "") -> str:
    """Every key of ``cls`` with its type, default and help: the text of ``--help-config``."""
    lines = [title] if title else []
    section = None
    for key, f in iter_settings(cls):
        head = key.rsplit(".", 1)[0] if "." in key else ""
        if head != section:
            section = head
            node: Any = cls
            section_field = None
            for part in head.split(".") if head else []:
                section_field = {g.name: g for g in dataclasses.fields(node)}[part]
                node = section_type(section_field)
            if section_field is not None:  # a section: the help of its field
                doc = str(section_field.metadata.get("help", ""))
            else:
                doc = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "`") if cls.__doc__ else ""
            lines += ["", f"[{head or 'top level'}] {doc}".rstrip()]
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        lines.append(f"  {key}: {kind} = {_default_text(f)}")
        lines.append(f"      {f.metadata.get('help', '(no help)')}")
    return "\n".join(lines).lstrip("\n") + "\n"


__all__ = [
    "apply_overrides",
    "build_config",
    "coerce_value",
    "config_reference",
    "config_to_dict",
    "iter_settings",
    "load_config",
    "parse_yaml_value",
    "read_yaml_mapping",
    "section_type",
    "setting",
    "yaml_problem",
]
