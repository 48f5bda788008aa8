"""WebShop's purchase reward, equal to the official ``web_agent_site/engine/goal.py``.

``reward = (matched attributes + matched options + [price <= bound]) /
(n_attributes + n_options + 1) * r_type``

Every rule below is the official one (docs/webshop.md lists them with the
official quirks; ``tests/webshop_official_oracle.py`` is a port of the official
functions that the tests compare against):

* fuzzy score: thefuzz's ``token_set_ratio`` with its default processing
  (characters U+0080..U+00FF dropped, every non-word character turned into a
  space, lower-cased, stripped), each ratio rounded to an integer as thefuzz
  does; a match is a score ``> 85``;
* attribute matched: fuzzy match against one of the product's attributes, else
  the attribute text occurs in the lower-cased title, bullet points (joined by
  spaces) or description;
* option matched: both sides colour-normalised (:func:`normalize_color`, the
  official list and order, case-sensitive substring test), then a fuzzy match
  against one of the chosen option values;
* goals whose options are a dict (the official synthetic goals) are scored the
  official way by default: the goal side is the ``(name, value)`` pair, which
  thefuzz turns into the text of the tuple; ``fix_dict_options=True`` compares
  the values instead (:data:`DICT_OPTIONS_OFFICIAL` / :data:`DICT_OPTIONS_FIXED`);
* ``r_type``: 1.0 when the product's query equals the goal's, or the two
  category paths share >= 2 items (split on "›", stripped, empty items kept), or
  the title score is > 0.2; else 0.5; then 0.1 when the title score is < 0.1 and
  0.0 when it is 0 (these override). Title score = shared distinct nouns /
  number of goal-title nouns counted with repeats (0.2 when the goal title has
  none).

Nouns: spaCy POS tags NOUN/PROPN (and the official's never-produced "PNOUN")
when a spaCy English model is installed (``en_core_web_sm`` first, as the
official code loads), else a fallback heuristic (alphabetic title words of >= 3
letters that are not stop words, colours, sizes or common adjectives, see
:data:`NON_NOUNS`). :func:`noun_backend` names the one in use; it is in every
reward's components.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from agent_gym.errors import require
from agent_gym.webshop.catalog import Product
from agent_gym.webshop.goals import Goal

Indel = require("rapidfuzz.distance", "webshop").Indel

#: A fuzzy score must be above this (``score > 85`` in the official code).
MATCH_THRESHOLD = 85

#: How dict (synthetic-goal) options are compared: the official ``(name, value)`` pairs, or the values.
DICT_OPTIONS_OFFICIAL = "official_pairs"
DICT_OPTIONS_FIXED = "values"

#: The official colour list (``web_agent_site/engine/normalize.py`` ``COLOR_SET``), in its order.
COLOR_WORDS = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure",
    "banana", "beige", "black", "blue", "blush", "bordeaux", "bronze",
    "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee",
    "cognac", "copper", "coral", "cranberry", "cream", "crystal", "dark",
    "denim", "eggplant", "elephant", "espresso", "fuchsia", "gold", "granite",
    "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac",
    "lime", "magenta", "maroon", "mauve", "merlot", "midnight", "mint", "mocha",
    "multicolor", "mushroom", "mustard", "natural", "navy", "nude", "olive",
    "orange", "peach", "pewter", "pink", "plum", "purple", "rainbow", "red",
    "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal",
    "tiger", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)  # fmt: skip

#: Words the fallback noun heuristic never treats as nouns.
NON_NOUNS = frozenset(
    """a an the and or of for with in on to by from at as is are be this that these those it its your our my
    new best top great premium deluxe classic modern vintage rustic minimalist original professional portable
    long short lasting free small medium large big mini extra super ultra soft hard light lightweight heavy
    high low deep wide thin thick slim regular natural organic vegan matte non anti easy quick fast slow
    waterproof durable adjustable compatible washable breathable comfortable cute elegant fashion casual
    pack set piece pieces inch inches ft oz fl ounce ounces lb lbs pound pounds count size sizes
    women womens men mens kids girls boys unisex""".split()
    # colour words (not the official list, which also holds nouns such as steel, crystal, christmas, elephant)
    + """alabaster apricot aqua ash auburn azure beige black blonde blue blush bronze brown burgundy camel camo
    caramel champagne charcoal chocolate coffee copper coral cream denim espresso fuchsia gold graphite gray
    green grey indigo ivory khaki lavender lilac lime magenta maroon mauve mint navy olive orange peach pink
    platinum plum purple red rose rust sage silver tan taupe teal terracotta turquoise violet walnut white
    wine yellow""".split()
)

#: spaCy POS tags counted as nouns (the official list; "PNOUN" is not a spaCy tag and never occurs).
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")

# --------------------------------------------------------------------------- text matching

_LATIN1_HIGH = {code: None for code in range(128, 256)}
_NON_WORD = re.compile(r"(?ui)\W")


def fuzz_process(value: Any) -> str:
    """thefuzz's default processing (``full_process(str(value), force_ascii=True)``).

    Characters U+0080..U+00FF are dropped (so "café" -> "caf"; other non-ASCII
    characters stay), every non-word character becomes a space, then lower-case
    and strip. Non-strings are processed as ``str(value)`` (as thefuzz does).
    """
    text = value if isinstance(value, str) else str(value)
    return _NON_WORD.sub(" ", text.translate(_LATIN1_HIGH)).lower().strip()


def _ratio(a: str, b: str) -> int:
    """thefuzz's ``ratio`` on processed strings: equal -> 100, an empty side -> 0, else the rounded Indel ratio."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    total = len(a) + len(b)
    return int(round(100 * ((total - Indel.distance(a, b)) / total)))


def fuzzy_score(a: Any, b: Any) -> int:
    """thefuzz ``fuzz.token_set_ratio(a, b)``: an integer 0..100 (0 when a side has no token)."""
    tokens_a, tokens_b = set(fuzz_process(a).split()), set(fuzz_process(b).split())
    if not tokens_a or not tokens_b:
        return 0
    sect = " ".join(sorted(tokens_a & tokens_b))
    a_rest = " ".join(sorted(tokens_a - tokens_b))
    b_rest = " ".join(sorted(tokens_b - tokens_a))
    combined_a = f"{sect} {a_rest}".strip()
    combined_b = f"{sect} {b_rest}".strip()
    return max(_ratio(sect, combined_a), _ratio(sect, combined_b), _ratio(combined_a, combined_b))


def fuzzy_match(a: Any, b: Any) -> bool:
    """The official match test: ``token_set_ratio(a, b) > 85`` on thefuzz's integer score."""
    return fuzzy_score(a, b) > MATCH_THRESHOLD


def normalize_color(value: Any) -> Any:
    """The first official colour word ``in value``, else ``value`` unchanged (as ``normalize.py``).

    For a string this is a case-sensitive substring test ("light pink" ->
    "light", "hot pink" -> "pink", "Navy" unchanged); for a ``(name, value)``
    pair it is tuple membership (only an exact colour word matches).
    """
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


# --------------------------------------------------------------------------- nouns

SPACY_MODELS = ("en_core_web_sm", "en_core_web_md", "en_core_web_lg", "en_core_web_trf")


@lru_cache(maxsize=1)
def _spacy_nlp() -> Any:
    """The first installed spaCy English model, or ``None`` (spaCy itself is only imported if a model exists)."""
    import importlib.util

    for name in SPACY_MODELS:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            import spacy

            return spacy.load(name)
        except Exception:  # noqa: BLE001 - broken model install: fall back to the heuristic
            continue
    return None


def noun_backend() -> str:
    """``"spacy:<model>-<version>"`` when a spaCy model tags the nouns, else ``"heuristic"``."""
    nlp = _spacy_nlp()
    if nlp is None:
        return "heuristic"
    meta = getattr(nlp, "meta", {}) or {}
    return f"spacy:{meta.get('lang', 'en')}_{meta.get('name', '?')}-{meta.get('version', '?')}"


@lru_cache(maxsize=1)
def warn_heuristic_nouns() -> None:
    """Warn once per process that official data is scored with the heuristic nouns (no spaCy model installed)."""
    if noun_backend() == "heuristic":
        warnings.warn(
            "no spaCy English model is installed, so WebShop title nouns come from a heuristic, which changes "
            "r_type on about 5% of purchases of a product other than the goal's; for official data install "
            "en_core_web_sm (python -m spacy download en_core_web_sm)",
            RuntimeWarning,
            stacklevel=3,
        )


@lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """Lower-cased nouns of a title in order, repeats kept (spaCy POS if available, else the heuristic)."""
    nlp = _spacy_nlp()
    if nlp is not None:
        return tuple(t.text.lower() for t in nlp(title) if t.pos_ in NOUN_TAGS)
    words = re.findall(r"[A-Za-z]+", title.lower())
    return tuple(w for w in words if len(w) >= 3 and w not in NON_NOUNS)


# --------------------------------------------------------------------------- reward parts


def category_items(path: str) -> list[str]:
    """Items of a category path as the official code splits it (on "›", stripped, empty items kept)."""
    return [x.strip() for x in path.split("›")]


def title_score(purchased_title: str, goal_title: str) -> float:
    """Shared distinct nouns / goal-title nouns counted with repeats (0.2 when the goal title has none)."""
    desired = title_nouns(goal_title)
    if not desired:
        return 0.2
    return len(set(title_nouns(purchased_title)) & set(desired)) / len(desired)


def type_reward(product: Product, goal: Goal) -> dict[str, Any]:
    """``r_type`` and what it was decided from (official ``get_type_reward``)."""
    query_match = product.query == goal.query
    category_match = (
        len(set(category_items(product.product_category)) & set(category_items(goal.product_category))) >= 2
    )
    score = title_score(product.title, goal.name)
    r_type = 1.0 if (query_match or category_match or score > 0.2) else 0.5
    if score < 0.1:
        r_type = 0.1
    if score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match, "title_score": score}


def attribute_matches(product: Product, goal_attributes: Iterable[str]) -> list[bool]:
    """For each goal attribute: a fuzzy match with a product attribute, else a substring of title/bullets/description."""
    text_fields = (product.title.lower(), " ".join(product.bullet_points).lower(), product.description.lower())
    result = []
    for g_attr in goal_attributes:
        hit = any(fuzzy_match(p_attr, g_attr) for p_attr in product.attributes)
        if not hit:
            hit = any(g_attr in f for f in text_fields)
        result.append(hit)
    return result


def goal_option_keys(goal: Goal, fix_dict_options: bool = False) -> list[Any]:
    """What each goal option is compared as: its value, or the official ``(name, value)`` pair for dict options."""
    if goal.option_names is None or fix_dict_options:
        return list(goal.goal_options)
    return list(zip(goal.option_names, goal.goal_options))


def option_matches(chosen_options: Iterable[str], goal_options: Sequence[Any]) -> list[bool]:
    """For each goal option (a value or a pair): does a chosen value match it after colour normalisation?"""
    chosen = [normalize_color(o) for o in chosen_options]
    return [any(fuzzy_match(c, normalize_color(g)) for c in chosen) for g in goal_options]


def compute_reward(
    product: Product,
    goal: Goal,
    chosen_options: dict[str, str],
    price: float | None = None,
    fix_dict_options: bool = False,
) -> dict[str, Any]:
    """The reward of buying ``product`` with ``chosen_options`` for ``goal``: ``"reward"`` plus every component.

    ``fix_dict_options=True`` compares dict (synthetic-goal) options by value
    instead of the official ``(name, value)`` pairs; it changes nothing for
    goals with list options.
    """
    price = product.price if price is None else float(price)
    type_info = type_reward(product, goal)
    attrs = attribute_matches(product, goal.attributes)
    opts = option_matches(chosen_options.values(), goal_option_keys(goal, fix_dict_options))
    price_ok = price <= goal.price_upper
    total = (sum(attrs) + sum(opts) + int(price_ok)) / (len(attrs) + len(opts) + 1)
    reward = total * type_info["r_type"]
    return {
        "reward": float(reward),
        "r_type": type_info["r_type"],
        "query_match": type_info["query_match"],
        "category_match": type_info["category_match"],
        "title_score": type_info["title_score"],
        "r_att": sum(attrs) / len(attrs) if attrs else None,
        "num_attr_matches": sum(attrs),
        "attribute_matches": dict(zip(goal.attributes, attrs)),
        "r_option": sum(opts) / len(opts) if opts else None,
        "num_option_matches": sum(opts),
        "option_matches": dict(zip(goal.goal_options, opts)),
        "r_price": price_ok,
        "price": price,
        "price_upper": goal.price_upper,
        "purchased_asin": product.asin,
        "goal_asin": goal.asin,
        "chosen_options": dict(chosen_options),
        "goal_options_are_dict": goal.option_names is not None,
        "dict_options": DICT_OPTIONS_FIXED if fix_dict_options else DICT_OPTIONS_OFFICIAL,
        "noun_backend": noun_backend(),
    }
