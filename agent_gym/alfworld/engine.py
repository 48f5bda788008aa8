"""A fast ALFWorld text engine on top of textworld's PDDL machinery.

Stock ``textworld.envs.pddl.PddlEnv`` (what alfworld 0.4.2 plays) re-parses
grammar strings with TatSu on every step and re-runs the PDDL translator on
every reset. This engine runs the *same* planner library, the *same* grammar
rules and the *same* fact bookkeeping, but

* translates a game once (and keeps the translator output in an on-disk cache
  keyed by a content hash, see :func:`load_translation`);
* memoises every TatSu parse (grammar rules, conditions, templates);
* caches, per grounded operator, the command text (when its template only
  reads static facts) and its effect facts;
* caches, per planner state id, the applicable operators and admissible
  commands;
* resets by returning the planner's state registry to the initial state id.

Observations, admissible commands, rewards and ``won`` equal the stock engine's
(``tests/test_alfworld_engine.py`` replays random walks through both).

Main entry points: :func:`compile_game` (file -> :class:`CompiledGame`) and
:class:`ALFWorldEngine` (plays one compiled game at a time).

Modules, one job each: :mod:`~agent_gym.alfworld.engine_grammar` (grammar
documents and derivation), :mod:`~agent_gym.alfworld.engine_translation` (PDDL
translation and its disk cache), :mod:`~agent_gym.alfworld.engine_facts` (fact
bookkeeping, object names), :mod:`~agent_gym.alfworld.engine_compile` (game file
-> :class:`CompiledGame`), :mod:`~agent_gym.alfworld.engine_planner` (planner
library pool) and this module (the engine). The public names of all of them are
importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent_gym.alfworld.engine_compile import CompiledGame, compile_game
from agent_gym.alfworld.engine_facts import FactLogic, FactState, LazyFacts, demangle_names
from agent_gym.alfworld.engine_grammar import GrammarSpec, build_grammar, derive, parse_grammar
from agent_gym.alfworld.engine_planner import Planner
from agent_gym.alfworld.engine_translation import (
    CACHE_FORMAT,
    Translation,
    describe_error,
    load_translation,
    translate,
    translation_key,
    warm_translation_cache,
)
from agent_gym.errors import GameLoadError, require

require("textworld", "alfworld")
require("fast_downward", "alfworld")

import fast_downward  # noqa: E402
from textworld.envs.pddl import logic as pddl_logic  # noqa: E402
from textworld.generator.game import EntityInfo  # noqa: E402
from textworld.logic import Placeholder, Proposition, Variable  # noqa: E402

__all__ = [
    "CACHE_FORMAT",
    "NOTHING_HAPPENS",
    "ALFWorldEngine",
    "CompiledGame",
    "EngineState",
    "FactState",
    "GrammarSpec",
    "Planner",
    "Translation",
    "build_grammar",
    "compile_game",
    "demangle_names",
    "derive",
    "load_translation",
    "parse_grammar",
    "translate",
    "translation_key",
    "warm_translation_cache",
]

NOTHING_HAPPENS = "Nothing happens."

#: Planner states whose admissible commands an engine remembers (cleared when full).
_STATE_CACHE_LIMIT = 20_000


@dataclass(frozen=True)
class EngineState:
    """Opaque snapshot of an :class:`ALFWorldEngine` (valid inside the engine that made it)."""

    game: CompiledGame
    generation: int
    state_id: int
    facts: FactState
    moves: int
    won: bool
    path: tuple  # linked list (previous path, operator id) from the initial state


@dataclass
class _StateEntry:
    op_ids: list[int]
    op_names: list[str]
    n_effects: list[int]
    commands: list[str]
    admissible: list[str]
    won: bool


class ALFWorldEngine:
    """Plays compiled ALFWorld games exactly like textworld's ``PddlEnv`` + alfworld's ``AlfredDemangler``."""

    def __init__(self, planner: Planner | None = None) -> None:
        self._planner: Planner | None = planner or Planner.acquire()
        self.game: CompiledGame | None = None
        self.facts: FactState | None = None
        self.moves = 0
        self.won = False
        self.last_action_valid = True
        #: grounded operator name of the last valid command (``gotolocation agent1 l1 l2 r``); None otherwise
        self.last_operator: str | None = None
        self._initial_id = -1
        self._state_cache: dict[int, _StateEntry] = {}
        self._path: tuple = ()

    @property
    def planner(self) -> Planner:
        """The planner library copy this engine plays on (handed back by :meth:`close`)."""
        planner = self._planner
        if planner is None:
            raise RuntimeError("this ALFWorld engine is closed")
        return planner

    def _loaded(self) -> tuple[CompiledGame, FactState]:
        """The current game and its facts (set by :meth:`reset`/:meth:`restore`)."""
        game, facts = self.game, self.facts
        assert game is not None and facts is not None, "reset() the engine before playing"
        return game, facts

    # ------------------------------------------------------------- loading
    def load(self, game: CompiledGame) -> None:
        """Make ``game`` the current game (cheap if it already is)."""
        if self.planner.loaded is game and self.game is game:
            return
        lib = self.planner.lib
        self.planner.load(game)
        self.game = game
        self._state_cache = {}
        self._initial_id = lib.get_state_id()
        if game.initial_facts is None:
            self._first_load(game)

    def _first_load(self, game: CompiledGame) -> None:
        lib = self.planner.lib
        tr = game.translation
        logic = FactLogic(game.data["pddl_domain"], game.types)
        facts = FactState(logic, game.data["pddl_problem"])
        try:
            for pred, args in tr.init_facts:
                facts.add_fact(Proposition(pred, [Variable(a, tr.objects[a]) for a in args]))
            atoms = (pddl_logic.Atom * lib.get_state_size())()
            lib.get_state(atoms)
            for atom in atoms:
                if atom._name.startswith(b"NegatedAtom"):
                    continue  # stock parses these too, then drops them
                facts.add_fact(atom.get_fact(tr.objects))
            infos = {v.name: EntityInfo(v.name, v.type) for fact in facts.facts for v in fact.arguments}
            for info in infos.values():
                info.name = info.id
                info.definite = "the"
                info.indefinite = "a"
            names = demangle_names(infos)
            for key, info in infos.items():
                info.name = names[key]
        except Exception as exc:
            raise GameLoadError(f"cannot load ALFWorld game {game.source}: {describe_error(exc)}") from None
        game.initial_facts = facts
        game.entity_infos = infos
        game.name_mapping = {k: info.name for k, info in infos.items()}

    # ------------------------------------------------------------- playing
    def _context(self, mapping: Mapping[Placeholder, Variable]) -> dict[str, Any]:
        game, facts = self._loaded()
        infos = game.entity_infos
        assert infos is not None  # set by the game's first load
        return {
            "state": facts,
            "facts": LazyFacts(facts),
            "variables": {ph.name: infos[var.name] for ph, var in mapping.items()},
            "mapping": mapping,
            "entity_infos": infos,
        }

    def _render(self, start: str, mapping: Mapping[Placeholder, Variable]) -> str:
        """Derive ``start`` with the game's grammar; grammar failures name the game file."""
        game, _ = self._loaded()
        try:
            return derive(game.grammar, start, self._context(mapping))
        except Exception as exc:
            raise GameLoadError(
                f"ALFWorld game {game.source}: its grammar cannot render {start!r}: {describe_error(exc)}"
            ) from None

    def reset(self) -> str:
        """Return to the initial state; returns the intro observation."""
        if self.game is None:
            raise RuntimeError("load() a game before reset()")
        game = self.game
        if self.planner.loaded is not game:
            self.game = None
            self.load(game)
        self.planner.lib.set_state_id(self._initial_id)
        assert game.initial_facts is not None  # load() set it
        self.facts = game.initial_facts.copy()
        self.moves = 0
        self._path = ()
        self.last_action_valid = True
        self.last_operator = None
        if game.intro is None:
            game.intro = self._render("#intro#", {})
        self.won = self._entry().won
        return game.intro

    def _mapping(self, op_name: str) -> dict[Placeholder, Variable]:
        game, _ = self._loaded()
        cache = game.mapping_cache
        mapping = cache.get(op_name)
        if mapping is None:
            name, *args = op_name.split()
            params = game.translation.action_params[name]
            mapping = {Placeholder(p, t): Variable(a, t) for (p, t), a in zip(params, args)}
            cache[op_name] = mapping
        return mapping

    def _command(self, op_name: str) -> str:
        game, _ = self._loaded()
        action, *args = op_name.split()
        indices = game.template_keys.get(action)
        key = op_name if indices is None else (action, *(args[i] for i in indices))
        text = game.command_cache.get(key)
        if text is not None:
            return text
        template = game.actions[action][0]
        mapping = self._mapping(op_name)
        derived = self._render(template, mapping)
        assert game.name_mapping is not None  # set by the game's first load
        text = derived.format(**game.name_mapping)
        if game.static_templates.get(action, False):
            game.command_cache[key] = text
        return text

    def _entry(self) -> _StateEntry:
        lib = self.planner.lib
        sid = lib.get_state_id()
        entry = self._state_cache.get(sid)
        if entry is not None:
            return entry
        count = lib.get_applicable_operators_count()
        operators = (fast_downward.Operator * count)()
        lib.get_applicable_operators(operators)
        op_ids, op_names, n_effects, seen = [], [], [], set()
        for op in operators:
            name = op.name
            if name in seen:
                continue
            seen.add(name)
            op_ids.append(op.id)
            op_names.append(name)
            n_effects.append(op.nb_effect_atoms)
        commands = [self._command(n) for n in op_names]
        entry = _StateEntry(op_ids, op_names, n_effects, commands, sorted(set(commands)), bool(lib.check_goal()))
        game, _ = self._loaded()
        if all(game.static_templates.get(n.split(None, 1)[0], False) for n in op_names):
            if len(self._state_cache) >= _STATE_CACHE_LIMIT:
                self._state_cache.clear()
            self._state_cache[sid] = entry
        return entry

    @property
    def admissible_commands(self) -> list[str]:
        """Sorted, de-duplicated commands that change the game (stock order)."""
        return list(self._entry().admissible)

    def step(self, command: str) -> tuple[str, float, bool]:
        """Apply a command; returns ``(feedback, reward, done)`` like stock ``PddlEnv.step``.

        A command that is not admissible returns ``"Nothing happens."`` and
        changes nothing (``last_action_valid`` is then False).
        """
        command = command.strip()
        entry = self._entry()
        try:
            idx = entry.commands.index(command)
        except ValueError:
            self.last_action_valid = False
            self.last_operator = None
            return NOTHING_HAPPENS, float(self.won), self.won
        op_id, op_name = entry.op_ids[idx], entry.op_names[idx]
        self.last_operator = op_name
        game, facts = self._loaded()
        effects = game.effects_cache.get(op_id)
        if effects is None:
            n = entry.n_effects[idx]
            buffer = (pddl_logic.Atom * n)()
            self.planner.lib.apply_operator(op_id, buffer)
            effects = [atom.get_fact(game.translation.objects) for atom in buffer]
            game.effects_cache[op_id] = effects
        else:
            self.planner.lib.apply_operator(op_id, None)
        for prop in effects:
            facts.remove_fact(prop.negate())
            facts.add_fact(prop)
        self._path = (self._path, op_id)
        feedback_rule = game.actions[op_name.split(None, 1)[0]][1]
        feedback = self._render(feedback_rule, self._mapping(op_name))
        self.moves += 1
        self.last_action_valid = True
        self.won = self._entry().won
        return feedback, float(self.won), self.won

    # ------------------------------------------------------------- branching
    def snapshot(self) -> EngineState:
        """Planner state id + a copy of the Python-side facts (restore is O(facts))."""
        game, facts = self._loaded()
        return EngineState(
            game=game,
            generation=self.planner.generation,
            state_id=self.planner.lib.get_state_id(),
            facts=facts.copy(),
            moves=self.moves,
            won=self.won,
            path=self._path,
        )

    def restore(self, state: EngineState) -> None:
        """Return exactly to ``state``; replays its operator path if the planner reloaded since."""
        if self.game is not state.game or self.planner.loaded is not state.game:
            self.game = None
            self.load(state.game)
        lib = self.planner.lib
        if state.generation == self.planner.generation:
            lib.set_state_id(state.state_id)
        else:
            ops = []
            node = state.path
            while node:
                node, op = node
                ops.append(op)
            lib.set_state_id(self._initial_id)
            for op in reversed(ops):
                lib.apply_operator(op, None)
        self.facts = state.facts.copy()
        self.moves = state.moves
        self.won = state.won
        self._path = state.path
        self.last_action_valid = True
        self.last_operator = None

    def close(self) -> None:
        """Give the planner back to the pool; the engine is unusable afterwards."""
        if self._planner is not None:
            self._planner.release()
            self._planner = None
