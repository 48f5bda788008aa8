"""WebShop's purchase reward (the published formula), with every component exposed.

``reward = (matched attributes + matched options + [price <= bound]) /
(n_attributes + n_options + 1) * r_type``

* attribute matched: ``rapidfuzz.fuzz.token_set_ratio > 85`` against one of the
  product's attributes, else the attribute text occurs in the lower-cased title,
  bullet points or description;
* option matched: after colour normalisation, token-set ratio > 85 against one
  of the chosen option values;
* ``r_type``: 1.0 when the product's query equals the goal's, or they share >= 2
  category-path items, or the title-noun overlap is > 0.2; else 0.5; then 0.1
  when the overlap is < 0.1 and 0.0 when it is 0 (these override, as in WebShop).

Nouns: a spaCy POS model (``en_core_web_sm`` etc.) when one is installed; else
a fallback heuristic: alphabetic title words of >= 3 letters that are not stop
words, colours, sizes or common adjectives (see :data:`NON_NOUNS`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

from agent_gym.errors import require
from agent_gym.webshop.catalog import Product
from agent_gym.webshop.goals import Goal

fuzz = require("rapidfuzz.fuzz", "webshop")

MATCH_THRESHOLD = 85

#: Colour words options are normalised to (a product option "navy blue" counts as "blue"), checked in order.
COLOR_WORDS = (
    "alabaster", "apricot", "aqua", "ash", "auburn", "azure", "beige", "black", "blonde", "blue", "blush",
    "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne", "charcoal", "chocolate", "coffee",
    "copper", "coral", "cream", "denim", "espresso", "fuchsia", "gold", "graphite", "gray", "green", "grey",
    "indigo", "ivory", "khaki", "lavender", "lilac", "lime", "magenta", "maroon", "mauve", "mint", "navy",
    "olive", "orange", "peach", "pink", "platinum", "plum", "purple", "red", "rose", "rust", "sage", "silver",
    "tan", "taupe", "teal", "terracotta", "turquoise", "violet", "walnut", "white", "wine", "yellow",
)

#: Words the fallback noun heuristic never treats as nouns.
NON_NOUNS = frozenset(
    """a an the and or of for with in on to by from at as is are be this that these those it its your our my
    new best top great premium deluxe classic modern vintage rustic minimalist original professional portable
    long short lasting free small medium large big mini extra super ultra soft hard light lightweight heavy
    high low deep wide thin thick slim regular natural organic vegan matte non anti easy quick fast slow
    waterproof durable adjustable compatible washable breathable comfortable cute elegant fashion casual
    pack set piece pieces inch inches ft oz fl ounce ounces lb lbs pound pounds count size sizes
    women womens men mens kids girls boys unisex""".split()
) | frozenset(COLOR_WORDS)


def normalize_color(value: str) -> str:
    """The first colour word contained in ``value`` (as WebShop normalises options), else ``value``."""
    for color in COLOR_WORDS:
        if color in value:
            return color
    return value


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

            return spacy.load(name, disable=["ner", "parser", "lemmatizer"])
        except Exception:  # noqa: BLE001 - broken model install: fall back to the heuristic
            continue
    return None


def noun_backend() -> str:
    """``"spacy:<model>"`` when a spaCy POS model is used for nouns, else ``"heuristic"``."""
    nlp = _spacy_nlp()
    return f"spacy:{nlp.meta.get('name', '?')}" if nlp is not None else "heuristic"


@lru_cache(maxsize=65536)
def title_nouns(title: str) -> frozenset[str]:
    """Lower-cased nouns of a product title (spaCy POS if available, else the fallback heuristic)."""
    nlp = _spacy_nlp()
    if nlp is not None:
        return frozenset(t.text.lower() for t in nlp(title) if t.pos_ in ("NOUN", "PROPN"))
    words = re.findall(r"[A-Za-z]+", title.lower())
    return frozenset(w for w in words if len(w) >= 3 and w not in NON_NOUNS)


def type_reward(product: Product, goal: Goal) -> dict[str, Any]:
    """``r_type`` and what it was decided from."""
    query_match = product.query == goal.query
    p_cat = {x.strip() for x in product.product_category.split("›")}
    g_cat = {x.strip() for x in goal.product_category.split("›")}
    category_match = len((p_cat & g_cat) - {""}) >= 2
    desired = title_nouns(goal.name)
    purchased = title_nouns(product.title)
    title_score = 0.2 if not desired else len(desired & purchased) / len(desired)
    r_type = 1.0 if (query_match or category_match or title_score > 0.2) else 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match, "title_score": title_score}


def attribute_matches(product: Product, goal_attributes: Iterable[str]) -> list[bool]:
    """For each goal attribute: does the product have it (fuzzy attribute match, else a text hit)?"""
    text_fields = (product.title.lower(), " ".join(product.bullet_points).lower(), product.description.lower())
    result = []
    for g_attr in goal_attributes:
        hit = any(fuzz.token_set_ratio(p_attr, g_attr) > MATCH_THRESHOLD for p_attr in product.attributes)
        if not hit:
            hit = any(g_attr in f for f in text_fields)
        result.append(hit)
    return result


def option_matches(chosen_options: Iterable[str], goal_options: Iterable[str]) -> list[bool]:
    """For each goal option: is a chosen option value the same after colour normalisation (fuzzy > 85)?"""
    chosen = [normalize_color(str(o).lower()) for o in chosen_options]
    result = []
    for g_opt in goal_options:
        g = normalize_color(str(g_opt).lower())
        result.append(any(fuzz.token_set_ratio(c, g) > MATCH_THRESHOLD for c in chosen))
    return result


def compute_reward(product: Product, goal: Goal, chosen_options: dict[str, str], price: float | None = None) -> dict[str, Any]:
    """The reward of buying ``product`` with ``chosen_options`` for ``goal``; ``"reward"`` plus all components."""
    price = product.price if price is None else float(price)
    type_info = type_reward(product, goal)
    attrs = attribute_matches(product, goal.attributes)
    opts = option_matches(chosen_options.values(), goal.goal_options)
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
        "noun_backend": noun_backend(),
    }
