"""ALFWorld grammar documents (``.twl2``) and text derivation with memoised TatSu parses.

Stock textworld re-parses grammar strings with TatSu on every step; here every
parse (grammar right-hand sides, conditions, eval expressions, whole documents)
is parsed once per process. :func:`derive` gives the same text as
``ContextSensitiveGrammar.derive``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from agent_gym.alfworld.engine_lock import LOCK
from agent_gym.errors import require

require("textworld", "alfworld")

from textworld.envs.pddl import logic as pddl_logic  # noqa: E402
from textworld.envs.pddl import textgen  # noqa: E402
from textworld.logic import Rule  # noqa: E402

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
            with LOCK:
                symbols = textgen._parse_and_convert(text, rule_name="symbols")
        _SYMBOLS_MEMO[text] = symbols
    return symbols


def _parse_query(expression: str) -> Rule:
    rule = _QUERY_MEMO.get(expression)
    if rule is None:
        with LOCK:
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
    with LOCK:
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
    key = grammar_text[: match.start(2)] + _TASK_PLACEHOLDER + grammar_text[match.end(2) :]
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
        raise IndexError(f"no applicable production rule for #{start}#")
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
            raise NotImplementedError(f"Unknown symbol: {type(symbol)}")
    return "".join(map(str, derived))
