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
"""

from __future__ import annotations

import copy
import ctypes
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from agent_gym.errors import GameLoadError, require

require("textworld", "alfworld")
require("fast_downward", "alfworld")

import fast_downward  # noqa: E402
import textworld.logic  # noqa: E402
from textworld.envs.pddl import logic as pddl_logic  # noqa: E402
from textworld.envs.pddl import textgen  # noqa: E402
from textworld.generator.game import EntityInfo  # noqa: E402
from textworld.logic import Placeholder, Proposition, Rule, Variable  # noqa: E402

#: Bump when the on-disk cache format changes.
CACHE_FORMAT = 1

NOTHING_HAPPENS = "Nothing happens."

#: Planner states whose admissible commands an engine remembers (cleared when full).
_STATE_CACHE_LIMIT = 20_000

_LOCK = threading.RLock()  # the translator and the TatSu parsers keep module-level state


# --------------------------------------------------------------------------- parse memos
_SYMBOLS_MEMO: dict[str, list[textgen.Symbol]] = {}
_QUERY_MEMO: dict[str, Rule] = {}
_EVAL_MEMO: dict[str, Any] = {}


# Text that the CSG grammar can only read as one terminal: starts with a letter or
# digit (no leading whitespace/comment) and has no character the grammar treats specially.
_PLAIN_TEXT = re.compile(r'[A-Za-z0-9][^;|"<>\[\]#{}\t\n\r/\\]*')


def _parse_symbols(text: str) -> list[textgen.Symbol]:
    """TatSu parse of a grammar right-hand side (memoised; callers must not mutate the result)."""
    symbols = _SYMBOLS_MEMO.get(text)
    if symbols is None:
        if _PLAIN_TEXT.fullmatch(text):  # e.g. the task sentence of every game
            symbols = [textgen.TerminalSymbol(text)]
        else:
            with _LOCK:
                symbols = textgen._parse_and_convert(text, rule_name="symbols")
        _SYMBOLS_MEMO[text] = symbols
    return symbols


def _parse_query(expression: str) -> Rule:
    rule = _QUERY_MEMO.get(expression)
    if rule is None:
        with _LOCK:
            rule = Rule.parse_conjunctive_query(expression)
        _QUERY_MEMO[expression] = rule
    return rule


def _compiled_eval(expression: str) -> Any:
    code = _EVAL_MEMO.get(expression)
    if code is None:
        code = compile(expression, "<grammar>", "eval")
        _EVAL_MEMO[expression] = code
    return code


# --------------------------------------------------------------------------- grammar
@dataclass(frozen=True)
class GrammarSpec:
    """The parts of a ``.twl2`` grammar document the engine needs (plain data, JSON-able)."""

    actions: dict[str, tuple[str, str]]  # lowercased action name -> (command template, feedback rule)
    rules: dict[str, list[dict[str, Any]]]  # nonterminal -> [{"rhs", "weight"?, "condition"?}]


_DOC_MEMO: dict[str, GrammarSpec] = {}
_TASK_RULE = re.compile(r'("task"\s*:\s*\[\s*\{\s*"rhs"\s*:\s*)("(?:[^"\\]|\\.)*")(\s*\}\s*\])')
_TASK_PLACEHOLDER = '"@@AGENT_GYM_TASK@@"'


def _parse_document(grammar_text: str) -> GrammarSpec:
    """Stock TatSu parse of the whole document, reduced to :class:`GrammarSpec`."""
    with _LOCK:
        model = pddl_logic._PARSER.parse(grammar_text, rule_name="pddlStart")
    converter = pddl_logic._ModelConverter()
    actions: dict[str, tuple[str, str]] = {}
    rules: dict[str, list[dict[str, Any]]] = {}
    for part in model.parts:
        if isinstance(part, pddl_logic.model.ActionTypeNode):
            action = converter.walk(part)
            actions[action.name.lower()] = (action.template, action.feedback_rule)
            data = "\n".join(line for line in action.grammar.split("\n") if not line.lstrip().startswith("#"))
            rules.update(json.loads(data))
        elif isinstance(part, pddl_logic.model.ActionGrammarNode):
            rules.update(json.loads(converter._unescape_block(part.code)))
    return GrammarSpec(actions=actions, rules=rules)


def parse_grammar(grammar_text: str) -> GrammarSpec:
    """Parse a game's grammar document.

    Game grammars differ only in the task sentence (the ``"task"`` rule), so the
    document is parsed once with the sentence replaced by a placeholder and the
    sentence is put back into the parsed rules afterwards.
    """
    matches = list(_TASK_RULE.finditer(grammar_text))
    if len(matches) != 1:
        spec = _DOC_MEMO.get(grammar_text)
        if spec is None:
            spec = _DOC_MEMO[grammar_text] = _parse_document(grammar_text)
        return spec
    match = matches[0]
    task_rhs = json.loads(match.group(2))
    key = grammar_text[: match.start(2)] + _TASK_PLACEHOLDER + grammar_text[match.end(2):]
    spec = _DOC_MEMO.get(key)
    if spec is None:
        spec = _DOC_MEMO[key] = _parse_document(key)
    rules = dict(spec.rules)
    rules["task"] = [dict(rules["task"][0], rhs=task_rhs)]
    return GrammarSpec(actions=spec.actions, rules=rules)


def build_grammar(spec: GrammarSpec) -> textgen.ContextSensitiveGrammar:
    """A textworld ``ContextSensitiveGrammar`` from a spec, with memoised rule parses."""
    grammar = textgen.ContextSensitiveGrammar()
    for name, rules in spec.rules.items():
        for rule in rules:
            grammar.add_rule(
                textgen.ProductionRule(
                    lhs=name,
                    rhs=_parse_symbols(rule["rhs"]),
                    weight=rule.get("weight", 1),
                    condition=rule.get("condition", ""),
                )
            )
    return grammar


def _copy_context(context: dict[str, Any]) -> dict[str, Any]:
    # Stock deep-copies variables/mapping; their values (EntityInfo, Variable) are
    # never mutated during a derivation, so shallow copies are equivalent.
    return {
        "state": context["state"],
        "facts": context["facts"],
        "variables": dict(context["variables"]),
        "mapping": dict(context["mapping"]),
        "entity_infos": context["entity_infos"],
    }


def _query(expression: str, context: dict[str, Any]) -> list[dict[str, Any]]:
    rule = _parse_query(expression)
    contexts = []
    infos = context["entity_infos"]
    for mapping in context["state"].all_assignments(rule, context["mapping"]):
        ctx = _copy_context(context)
        ctx["variables"].update({ph.name: infos[var.name] for ph, var in mapping.items()})
        ctx["mapping"].update(mapping)
        contexts.append(ctx)
    return contexts


def _clone(symbol: textgen.Symbol, context: dict[str, Any]) -> textgen.Symbol:
    clone = copy.deepcopy(symbol)
    clone.context = _copy_context(context)
    return clone


def _expand(symbol: textgen.Symbol) -> list[textgen.Symbol]:
    """One derivation step of a Conditional/Eval/List symbol (same semantics as textgen)."""
    context = symbol.context
    if isinstance(symbol, textgen.ConditionalSymbol):
        if len(context) == 0:
            raise ValueError("Empty context")
        ctx = _copy_context(context)
        contexts = _query(symbol.given, ctx) if symbol.given else [ctx]
        return [_clone(symbol.expression, c) for c in contexts]
    if isinstance(symbol, textgen.EvalSymbol):
        local_vars = {"self": symbol, "context": context}
        local_vars.update(context["variables"])
        return [textgen.TerminalSymbol(eval(_compiled_eval(symbol.expression), vars(textgen), local_vars))]
    if isinstance(symbol, textgen.ListSymbol):
        inner = symbol.symbol
        inner.context = context
        return textgen.display_list(_expand(inner), context)
    return symbol.derive()


def _replace(grammar: textgen.ContextSensitiveGrammar, start: textgen.Symbol) -> list[textgen.Symbol]:
    rules = grammar._rules.get(str(start))
    if not rules:
        raise textgen.CSGUnknownSymbolError(start)
    for rule in rules:
        if not rule.condition:
            break
        query = _parse_query(rule.condition)
        if next(iter(start.context["state"].all_assignments(query, start.context["mapping"])), None) is not None:
            break
    else:
        raise IndexError("no applicable production rule for #{}#".format(start))
    symbols = copy.deepcopy(rule.rhs)
    for symbol in symbols:
        symbol.context = _copy_context(start.context)
    return symbols


def derive(grammar: textgen.ContextSensitiveGrammar, start: str, context: dict[str, Any]) -> str:
    """``ContextSensitiveGrammar.derive`` with memoised parses (same output)."""
    derivation = copy.deepcopy(_parse_symbols(start))[::-1]
    for symbol in derivation:
        symbol.context = _copy_context(context)
    derived = []
    while derivation:
        symbol = derivation.pop()
        if isinstance(symbol, textgen.TerminalSymbol):
            derived.append(symbol)
        elif isinstance(symbol, textgen.NonterminalSymbol):
            derivation += _replace(grammar, symbol)[::-1]
        elif isinstance(symbol, (textgen.ConditionalSymbol, textgen.EvalSymbol, textgen.ListSymbol)):
            derivation += _expand(symbol)[::-1]
        else:
            raise NotImplementedError("Unknown symbol: {}".format(type(symbol)))
    return "".join(map(str, derived))


# --------------------------------------------------------------------------- translation
@dataclass(frozen=True)
class Translation:
    """What the engine keeps of the PDDL translator's output (plain data, JSON-able)."""

    sas: str
    action_params: dict[str, list[tuple[str, str]]]  # action -> [(param name without '?', type)]
    types: list[tuple[str, list[str]]]  # (type name, supertype names)
    objects: dict[str, str]  # object name -> type
    init_facts: list[tuple[str, list[str]]]  # (predicate, [object names]) from the problem's :init
    dynamic_predicates: list[str]  # predicates some action effect or axiom can change

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "sas": self.sas,
            "action_params": self.action_params,
            "types": self.types,
            "objects": self.objects,
            "init_facts": self.init_facts,
            "dynamic_predicates": self.dynamic_predicates,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Translation":
        if data.get("format") != CACHE_FORMAT:
            raise ValueError("stale cache format")
        return cls(
            sas=data["sas"],
            action_params={k: [tuple(p) for p in v] for k, v in data["action_params"].items()},
            types=[(t, list(s)) for t, s in data["types"]],
            objects=dict(data["objects"]),
            init_facts=[(p, list(a)) for p, a in data["init_facts"]],
            dynamic_predicates=list(data["dynamic_predicates"]),
        )


def translate(domain: str, problem: str, source: str = "<game>") -> Translation:
    """Run fast-downward's PDDL translator (as textworld does) and keep what the engine needs.

    Raises :class:`GameLoadError` naming ``source`` on any failure, including the
    translator's ``sys.exit`` calls.
    """
    argv, stdout = sys.argv, sys.stdout
    try:
        with _LOCK:
            task, sas = fast_downward.pddl2sas(domain, problem)
    except (Exception, SystemExit) as exc:  # the translator calls sys.exit on bad input
        raise GameLoadError(f"cannot translate the PDDL of ALFWorld game {source}: {_describe(exc)}") from None
    finally:
        sys.argv, sys.stdout = argv, stdout
    try:
        name2type = {o.name: o.type_name for o in task.objects}
        init_facts: list[tuple[str, list[str]]] = []
        for atom in task.init:
            if isinstance(atom, fast_downward.translate.pddl.conditions.Atom):
                if atom.predicate == "=":
                    continue
                [name2type[a] for a in atom.args]  # same KeyError as stock on unknown objects
                init_facts.append((atom.predicate, list(atom.args)))
            elif isinstance(atom, fast_downward.translate.pddl.f_expression.Assign):
                if atom.fluent.symbol == "total-cost":
                    continue
                name = "{}".format(atom.expression.value)
                if str.isdigit(name):
                    continue
                [name2type[a] for a in atom.fluent.args]
                init_facts.append((name, list(atom.fluent.args)))
        dynamic: set[str] = set()
        for action in task.actions:
            for effect in action.effects:
                dynamic.add(effect.literal.predicate)
        for axiom in getattr(task, "axioms", ()):
            dynamic.add(axiom.name)
        return Translation(
            sas=sas,
            action_params={a.name: [(p.name.strip("?"), p.type_name) for p in a.parameters] for a in task.actions},
            types=[(t.name, list(t.supertype_names)) for t in task.types],
            objects=name2type,
            init_facts=init_facts,
            dynamic_predicates=sorted(dynamic),
        )
    except (Exception, SystemExit) as exc:
        raise GameLoadError(f"cannot load ALFWorld game {source}: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    """One line: the exception type and the first line of its text (TatSu's runs to several)."""
    if isinstance(exc, SystemExit):
        return f"the PDDL translator gave up (exit code {exc.code!r})"
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first.rstrip(' :')}" if first else type(exc).__name__


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("fast-downward-textworld", "textworld"):
        try:
            out.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist}=?")
    return ",".join(out)


_VERSIONS: str | None = None


def translation_key(domain: str, problem: str) -> str:
    """Content hash naming a game's cache entry (domain + problem + library versions)."""
    global _VERSIONS
    if _VERSIONS is None:
        _VERSIONS = _versions()
    digest = hashlib.sha256()
    for part in (f"agent-gym-alfworld/{CACHE_FORMAT}/{_VERSIONS}", domain, problem):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _cache_root() -> Path:
    from agent_gym.paths import cache_dir

    return cache_dir("alfworld", "translations")


def load_translation(domain: str, problem: str, source: str = "<game>", use_cache: bool = True) -> Translation:
    """:func:`translate` through a persistent on-disk cache (``cache_dir("alfworld", "translations")``).

    A corrupt or stale cache entry is ignored and rewritten; writes are atomic.
    """
    if not use_cache:
        return translate(domain, problem, source)
    key = translation_key(domain, problem)
    try:
        path = _cache_root() / key[:2] / f"{key}.json.gz"
    except OSError:  # unwritable cache dir: just translate
        return translate(domain, problem, source)
    if path.exists():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return Translation.from_json(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            pass
    result = translate(domain, problem, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
                gz.write(json.dumps(result.to_json()).encode("utf-8"))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass
    return result


def _cache_path(domain: str, problem: str) -> Path:
    key = translation_key(domain, problem)
    return _cache_root() / key[:2] / f"{key}.json.gz"


def _warm_one(path: str) -> tuple[str, str | None]:
    """Translate one game into the disk cache (worker side); returns (path, error or None)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not _cache_path(data["pddl_domain"], data["pddl_problem"]).exists():
            load_translation(data["pddl_domain"], data["pddl_problem"], path)
        return path, None
    except (Exception, SystemExit) as exc:  # reported, never raised: one bad game must not stop the rest
        return path, _describe(exc)


def warm_translation_cache(game_files: Iterable[str | os.PathLike], workers: int | None = None,
                           progress: bool = True) -> dict[str, str]:
    """Translate games into the on-disk cache with ``workers`` processes (default: all CPUs).

    Translation (~1-2 s per game) is what makes the first play of a game slow;
    this does it up front, in parallel. Games already cached are skipped.
    Returns ``{path: error}`` for games that could not be translated.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    from tqdm import tqdm

    todo = []
    for f in game_files:
        try:
            with open(f, encoding="utf-8") as fh:
                data = json.load(fh)
            if not _cache_path(data["pddl_domain"], data["pddl_problem"]).exists():
                todo.append(str(f))
        except (OSError, ValueError, KeyError, TypeError):
            todo.append(str(f))  # let the worker report the error
    errors: dict[str, str] = {}
    if not todo:
        return errors
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = tqdm(total=len(todo), desc="translating ALFWorld games", unit="game", disable=not progress)
    try:
        if workers == 1:
            results: Iterable[tuple[str, str | None]] = map(_warm_one, todo)
            for path, err in results:
                if err:
                    errors[path] = err
                bar.update(1)
        else:
            # fork is fast (no re-import) but unsafe once other threads run (e.g. torch's)
            method = "fork" if "fork" in mp.get_all_start_methods() and threading.active_count() == 1 else "spawn"
            ctx = mp.get_context(method)
            with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for path, err in pool.map(_warm_one, todo, chunksize=1):
                    if err:
                        errors[path] = err
                    bar.update(1)
    finally:
        bar.close()
    return errors


# --------------------------------------------------------------------------- facts
class _Logic:
    """Minimal stand-in for textworld's pddl ``GameLogic`` as seen by a fact state."""

    def __init__(self, domain: str, types: textworld.logic.TypeHierarchy):
        self.domain = domain
        self.types = types


class FactState(textworld.logic.State):
    """textworld's fact bookkeeping (same add/remove semantics as ``PddlState``).

    Carries ``pddl_problem`` and ``_logic.domain`` like ``PddlState`` so that
    :func:`agent_gym.alfworld.facts.live_facts` accepts it.
    """

    def __init__(self, logic: _Logic, pddl_problem: str):  # noqa: D107 - no type check on logic
        self._logic = logic
        self.pddl_problem = pddl_problem
        self._facts = defaultdict(set)
        self._vars_by_name = {}
        self._vars_by_type = defaultdict(set)
        self._var_counts = Counter()
        self._sorted: dict[Any, list[Proposition]] = {}

    # textworld sorts a signature's facts on every grammar query; keep them sorted
    # per signature (sorting a sorted list is linear; the order is the same).
    def facts_with_signature(self, sig: Any) -> list[Proposition]:  # type: ignore[override]
        facts = self._sorted.get(sig)
        if facts is None:
            facts = self._sorted[sig] = sorted(self._facts.get(sig, ()))
        return facts

    def add_fact(self, prop: Proposition) -> None:
        super().add_fact(prop)
        self._sorted.pop(prop.signature, None)

    def remove_fact(self, prop: Proposition) -> None:
        super().remove_fact(prop)
        self._sorted.pop(prop.signature, None)

    def copy(self) -> "FactState":
        other = FactState.__new__(FactState)
        other._logic = self._logic
        other.pddl_problem = self.pddl_problem
        other._facts = defaultdict(set, {k: v.copy() for k, v in self._facts.items()})
        other._vars_by_name = self._vars_by_name.copy()
        other._vars_by_type = defaultdict(set, {k: v.copy() for k, v in self._vars_by_type.items()})
        other._var_counts = self._var_counts.copy()
        other._sorted = dict(self._sorted)  # lists are never mutated, only replaced
        return other


# --------------------------------------------------------------------------- names
_ESCAPES = (("_bar_", "|"), ("_minus_", "-"), ("_plus_", "+"), ("_dot_", "."), ("_comma_", ","))


def demangle_names(ids: Iterable[str]) -> dict[str, str]:
    """Display names of PDDL object ids, numbered like alfworld's ``AlfredDemangler``.

    ``CounterTop_bar__minus_00_dot_08...`` -> ``countertop 1``: within a class, ids
    are numbered by sorted id, the first sorted id getting the highest number;
    ids without an instance part keep their text plus a trailing space
    (alfworld's own quirk). alfworld itself is not imported: importing it
    rewrites ``ALFWORLD_DATA``.
    """
    ordered = sorted(ids)
    counts: Counter[str] = Counter()
    for oid in ordered:
        parts = oid.split("_bar_", 1)
        if len(parts) > 1:
            name = parts[0] + ("basin" if "basin" in oid else "")
            counts[name] += 1
    numbers = {name: list(range(1, count + 1)) for name, count in counts.most_common()}
    out: dict[str, str] = {}
    for oid in ordered:
        text = oid
        for old, new in _ESCAPES:
            text = text.replace(old, new)
        parts = text.split("|", 1)
        if len(parts) == 1:
            out[oid] = f"{text} "
        else:
            name = parts[0] + ("basin" if "basin" in oid else "")
            out[oid] = f"{name} {numbers[name].pop()}"
    return out


class _LazyFacts(Sequence):
    """``list(state.facts)`` made on first use (grammar contexts carry it but ALFWorld never reads it)."""

    def __init__(self, state: textworld.logic.State):
        self._state = state
        self._list: list[Proposition] | None = None

    def _items(self) -> list[Proposition]:
        if self._list is None:
            self._list = list(self._state.facts)
        return self._list

    def __getitem__(self, index):  # type: ignore[override]
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())


# --------------------------------------------------------------------------- compiled game
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


def _template_is_static(template: str, dynamic: set[str]) -> bool:
    """A command template whose text depends only on facts no action can change."""
    if "#" in template:
        return False
    return all(p.lower() not in dynamic for p in _PRED_CALL.findall(template))


_WORD = re.compile(r"[A-Za-z_]\w*")
_TYPED_PLACEHOLDER = re.compile(r"([A-Za-z_]\w*)\s*:\s*[A-Za-z_]\w*")


def _template_key(template: str, params: list[tuple[str, str]]) -> tuple[int, ...] | None:
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
        raise GameLoadError(f"cannot parse the grammar of ALFWorld game {source}: {_describe(exc)}") from None
    translation = load_translation(data["pddl_domain"], data["pddl_problem"], source, use_cache=use_cache)
    types = textworld.logic.TypeHierarchy()
    for name, supertypes in translation.types:
        try:
            types.add(textworld.logic.Type(name, supertypes))
        except ValueError:
            pass
    dynamic = set(translation.dynamic_predicates)
    static_templates = {name: _template_is_static(tpl, dynamic) for name, (tpl, _) in spec.actions.items()}
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
        template_keys={a: _template_key(spec.actions[a][0], params) for a, params in translation.action_params.items()},
    )


# --------------------------------------------------------------------------- planner
_FREE_PLANNERS: list["Planner"] = []
_RETIRED_LIBS: list[Any] = []  # closed planners' libraries, kept mapped (never dlclose'd)


class Planner:
    """A private copy of fast-downward's planner library (one game loaded at a time).

    Loading a copy costs ~0.1-0.5 s, so closed engines hand theirs back to a
    process-wide pool (:meth:`acquire` / :meth:`release`). Copies are never unloaded:
    the copies share C++ registry objects, and once one copy was ``dlclose``d the others'
    static destructors jump into its unmapped code when the process exits (a segfault
    after all work is done, seen with more than 8 envs). The pool is therefore unbounded;
    a process holds as many copies as it ever had planners in use at once.
    """

    @classmethod
    def acquire(cls) -> "Planner":
        """A pooled planner, or a new one."""
        with _LOCK:
            if _FREE_PLANNERS:
                return _FREE_PLANNERS.pop()
        return cls()

    def release(self) -> None:
        """Hand this planner back to the pool (its loaded game is forgotten)."""
        if self.lib is None:
            return
        self.loaded = None
        self.generation += 1
        with _LOCK:
            _FREE_PLANNERS.append(self)

    def __init__(self) -> None:
        with _LOCK:
            self.lib = fast_downward.load_lib()
        self.lib.set_state_id.argtypes = [ctypes.c_int]
        self.lib.set_state_id.restype = None
        self.lib.get_state_id.argtypes = []
        self.lib.get_state_id.restype = ctypes.c_int
        self.loaded: CompiledGame | None = None
        self.generation = 0

    def load(self, game: CompiledGame) -> None:
        self.lib.load_sas(game.translation.sas.encode("utf-8"))
        self.loaded = game
        self.generation += 1

    def close(self) -> None:
        """Free the planner's search data; the library copy stays loaded (see the class docstring)."""
        if self.lib is not None:
            try:
                self.lib.cleanup()
            except Exception:  # pragma: no cover - best effort
                pass
            _RETIRED_LIBS.append(self.lib)
            self.lib = None


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
        self.planner = planner or Planner.acquire()
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
        logic = _Logic(game.data["pddl_domain"], game.types)
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
            raise GameLoadError(f"cannot load ALFWorld game {game.source}: {_describe(exc)}") from None
        game.initial_facts = facts
        game.entity_infos = infos
        game.name_mapping = {k: info.name for k, info in infos.items()}

    # ------------------------------------------------------------- playing
    def _context(self, mapping: Mapping[Placeholder, Variable]) -> dict[str, Any]:
        infos = self.game.entity_infos
        return {
            "state": self.facts,
            "facts": _LazyFacts(self.facts),
            "variables": {ph.name: infos[var.name] for ph, var in mapping.items()},
            "mapping": mapping,
            "entity_infos": infos,
        }

    def _render(self, start: str, mapping: Mapping[Placeholder, Variable]) -> str:
        """Derive ``start`` with the game's grammar; grammar failures name the game file."""
        try:
            return derive(self.game.grammar, start, self._context(mapping))
        except Exception as exc:
            raise GameLoadError(
                f"ALFWorld game {self.game.source}: its grammar cannot render {start!r}: {_describe(exc)}"
            ) from None

    def reset(self) -> str:
        """Return to the initial state; returns the intro observation."""
        if self.game is None:
            raise RuntimeError("load() a game before reset()")
        if self.planner.loaded is not self.game:
            game, self.game = self.game, None
            self.load(game)
        self.planner.lib.set_state_id(self._initial_id)
        self.facts = self.game.initial_facts.copy()
        self.moves = 0
        self._path = ()
        self.last_action_valid = True
        self.last_operator = None
        game = self.game
        if game.intro is None:
            game.intro = self._render("#intro#", {})
        self.won = self._entry().won
        return game.intro

    def _mapping(self, op_name: str) -> dict[Placeholder, Variable]:
        cache = self.game.mapping_cache
        mapping = cache.get(op_name)
        if mapping is None:
            name, *args = op_name.split()
            params = self.game.translation.action_params[name]
            mapping = {Placeholder(p, t): Variable(a, t) for (p, t), a in zip(params, args)}
            cache[op_name] = mapping
        return mapping

    def _command(self, op_name: str) -> str:
        game = self.game
        action, *args = op_name.split()
        indices = game.template_keys.get(action)
        key = op_name if indices is None else (action, *(args[i] for i in indices))
        text = game.command_cache.get(key)
        if text is not None:
            return text
        template = game.actions[action][0]
        mapping = self._mapping(op_name)
        derived = self._render(template, mapping)
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
        if all(self.game.static_templates.get(n.split(None, 1)[0], False) for n in op_names):
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
        game = self.game
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
            self.facts.remove_fact(prop.negate())
            self.facts.add_fact(prop)
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
        return EngineState(
            game=self.game,
            generation=self.planner.generation,
            state_id=self.planner.lib.get_state_id(),
            facts=self.facts.copy(),
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
        if self.planner is not None:
            self.planner.release()
            self.planner = None
