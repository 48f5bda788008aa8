"""Compile a ``game.tw-pddl`` file into a :class:`CompiledGame` (grammar + translation + caches)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_gym.alfworld.engine_facts import FactState
from agent_gym.alfworld.engine_grammar import build_grammar, parse_grammar
from agent_gym.alfworld.engine_translation import Translation, describe_error, load_translation
from agent_gym.errors import GameLoadError, require

require("textworld", "alfworld")

import textworld.logic  # noqa: E402
from textworld.envs.pddl import textgen  # noqa: E402
from textworld.generator.game import EntityInfo  # noqa: E402
from textworld.logic import Placeholder, Proposition, Variable  # noqa: E402


@dataclass
class CompiledGame:
    """Everything about one game file that stays fixed while it is played."""

    source: str
    data: dict[str, Any]
    translation: Translation
    grammar: textgen.ContextSensitiveGrammar
    actions: dict[str, tuple[str, str]]
    types: textworld.logic.TypeHierarchy
    static_templates: dict[str, bool]
    template_keys: dict[str, tuple[int, ...] | None]
    # filled on first load into a planner:
    initial_facts: FactState | None = None
    entity_infos: dict[str, EntityInfo] | None = None
    name_mapping: dict[str, str] | None = None
    intro: str | None = None
    command_cache: dict[Any, str] = field(default_factory=dict)  # (action, relevant args) -> command text
    effects_cache: dict[int, list[Proposition]] = field(default_factory=dict)  # operator id -> effects
    mapping_cache: dict[str, dict[Placeholder, Variable]] = field(default_factory=dict)

    @property
    def walkthrough(self) -> list[str] | None:
        return self.data.get("walkthrough")


_PRED_CALL = re.compile(r"([A-Za-z_][\w\-]*)\s*\(")


def template_is_static(template: str, dynamic: set[str]) -> bool:
    """A command template whose text depends only on facts no action can change."""
    if "#" in template:
        return False
    return all(p.lower() not in dynamic for p in _PRED_CALL.findall(template))


_WORD = re.compile(r"[A-Za-z_]\w*")
_TYPED_PLACEHOLDER = re.compile(r"([A-Za-z_]\w*)\s*:\s*[A-Za-z_]\w*")


def template_key(template: str, params: list[tuple[str, str]]) -> tuple[int, ...] | None:
    """Indices of the operator arguments a (static) template's text can depend on.

    A template reads the placeholders it names; when every placeholder of its
    queries is an operator parameter (so bound), nothing else can influence the
    result. Otherwise (a query with free placeholders, whose matches exclude
    every bound object) return None: the full operator name is the key.
    """
    names = [p for p, _ in params]
    if any(ph not in names for ph in _TYPED_PLACEHOLDER.findall(template)):
        return None
    words = set(_WORD.findall(template))
    return tuple(i for i, name in enumerate(names) if name in words)


def compile_game(game: str | os.PathLike | Mapping[str, Any], use_cache: bool = True) -> CompiledGame:
    """Read and translate a ``game.tw-pddl`` file (or its parsed JSON dict).

    Raises :class:`GameLoadError` naming the file when it is missing, not JSON,
    lacks keys, or the translator rejects it.
    """
    if isinstance(game, Mapping):
        data, source = dict(game), "<game dict>"
    else:
        source = str(game)
        try:
            with open(source, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise GameLoadError(f"ALFWorld game file not found: {source}") from None
        except (OSError, ValueError) as exc:
            raise GameLoadError(f"cannot read ALFWorld game {source}: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise GameLoadError(f"ALFWorld game {source} is not a JSON object")
    missing = [k for k in ("pddl_domain", "grammar", "pddl_problem") if not isinstance(data.get(k), str)]
    if missing:
        raise GameLoadError(f"ALFWorld game {source} lacks {', '.join(missing)} (is it a game.tw-pddl file?)")
    try:
        spec = parse_grammar(data["grammar"])
        grammar = build_grammar(spec)
    except Exception as exc:
        raise GameLoadError(f"cannot parse the grammar of ALFWorld game {source}: {describe_error(exc)}") from None
    translation = load_translation(data["pddl_domain"], data["pddl_problem"], source, use_cache=use_cache)
    types = textworld.logic.TypeHierarchy()
    for name, supertypes in translation.types:
        try:
            types.add(textworld.logic.Type(name, supertypes))
        except ValueError:
            pass
    dynamic = set(translation.dynamic_predicates)
    static_templates = {name: template_is_static(tpl, dynamic) for name, (tpl, _) in spec.actions.items()}
    missing_actions = [a for a in translation.action_params if a not in spec.actions]
    if missing_actions:
        raise GameLoadError(f"ALFWorld game {source}: the grammar has no template for action(s) {missing_actions}")
    return CompiledGame(
        source=source,
        data=data,
        translation=translation,
        grammar=grammar,
        actions=spec.actions,
        types=types,
        static_templates=static_templates,
        template_keys={a: template_key(spec.actions[a][0], params) for a, params in translation.action_params.items()},
    )
