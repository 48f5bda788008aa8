"""Test oracle: a port of WebShop's official reward, kept apart from the project's code.

Ported from princeton-nlp/WebShop (MIT License), commit 64fa2a5:
``web_agent_site/engine/goal.py`` (``get_type_reward`` lines 130-175,
``get_attribute_reward`` 178-206, ``get_option_reward`` 209-225, ``get_reward``
228-250) and ``web_agent_site/engine/normalize.py`` (``COLOR_SET`` lines 4-19,
``normalize_color`` 57-62). The official code pins ``thefuzz==0.19.0``; its
``fuzz.token_set_ratio`` and ``utils.full_process`` are ported too, in plain
Python (no rapidfuzz), with thefuzz's ``ratio`` computed either as
python-Levenshtein does (Indel distance, ``"levenshtein"``) or with
``difflib.SequenceMatcher`` (thefuzz's fallback when python-Levenshtein is not
installed, ``"difflib"``).

Inputs use the official record shapes: products are dicts with ``name``,
``query``, ``product_category``, ``Attributes``, ``Title``, ``BulletPoints``,
``Description``; goals are dicts with ``query``, ``name``, ``product_category``,
``attributes``, ``goal_options`` (a list, or a dict for synthetic goals) and
``price_upper``. The spaCy pipeline is a parameter (``nlp``: text -> tokens
with ``.text`` and ``.pos_``) so both sides can be given the same noun tags.

Only the tests import this module.
"""

from __future__ import annotations

import difflib
import re

# ----------------------------------------------------------------- thefuzz 0.19.0

_BAD_CHARS = "".join(chr(i) for i in range(128, 256))  # thefuzz utils: "ascii dammit!"
_TRANSLATION_TABLE = dict((ord(c), None) for c in _BAD_CHARS)
_REGEX = re.compile(r"(?ui)\W")  # thefuzz string_processing.StringProcessor.regex

RATIO_IMPL = {"name": "levenshtein"}


def asciidammit(s):
    if type(s) is str:
        return s.translate(_TRANSLATION_TABLE)
    return asciidammit(str(s))


def full_process(s, force_ascii=False):
    if force_ascii:
        s = asciidammit(s)
    string_out = _REGEX.sub(" ", s)
    string_out = string_out.lower()
    return string_out.strip()


def _lcs_length(a, b):
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0]
        for j, cb in enumerate(b):
            cur.append(prev[j] + 1 if ca == cb else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _sequence_ratio(s1, s2):
    if RATIO_IMPL["name"] == "difflib":
        return difflib.SequenceMatcher(None, s1, s2).ratio()
    lensum = len(s1) + len(s2)
    ldist = lensum - 2 * _lcs_length(s1, s2)  # Levenshtein with substitution cost 2
    return (lensum - ldist) / lensum


def ratio(s1, s2):
    if s1 is None or s2 is None:  # utils.check_for_none
        return 0
    if s1 == s2:  # utils.check_for_equivalence
        return 100
    if len(s1) == 0 or len(s2) == 0:  # utils.check_empty_string
        return 0
    return int(round(100 * _sequence_ratio(s1, s2)))  # utils.intr


def token_set_ratio(s1, s2, force_ascii=True, full_process_=True):
    if s1 is None or s2 is None:
        return 0
    p1 = full_process(s1, force_ascii=force_ascii)
    p2 = full_process(s2, force_ascii=force_ascii)
    if not len(p1) > 0:
        return 0
    if not len(p2) > 0:
        return 0
    tokens1 = set(p1.split())
    tokens2 = set(p2.split())
    intersection = tokens1.intersection(tokens2)
    diff1to2 = tokens1.difference(tokens2)
    diff2to1 = tokens2.difference(tokens1)
    sorted_sect = " ".join(sorted(intersection))
    sorted_1to2 = " ".join(sorted(diff1to2))
    sorted_2to1 = " ".join(sorted(diff2to1))
    combined_1to2 = sorted_sect + " " + sorted_1to2
    combined_2to1 = sorted_sect + " " + sorted_2to1
    sorted_sect = sorted_sect.strip()
    combined_1to2 = combined_1to2.strip()
    combined_2to1 = combined_2to1.strip()
    pairwise = [
        ratio(sorted_sect, combined_1to2),
        ratio(sorted_sect, combined_2to1),
        ratio(combined_1to2, combined_2to1),
    ]
    return max(pairwise)


# ----------------------------------------------------------------- normalize.py

COLOR_SET = [
    'alabaster', 'apricot', 'aqua', 'ash', 'asphalt', 'azure',
    'banana', 'beige', 'black', 'blue', 'blush', 'bordeaux', 'bronze',
    'brown', 'burgundy', 'camel', 'camo', 'caramel', 'champagne',
    'charcoal', 'cheetah', 'chestnut', 'chocolate', 'christmas', 'coffee',
    'cognac', 'copper', 'coral', 'cranberry', 'cream', 'crystal', 'dark',
    'denim', 'eggplant', 'elephant', 'espresso', 'fuchsia', 'gold', 'granite',
    'grape', 'graphite', 'grass', 'gray', 'green', 'grey', 'heather', 'indigo',
    'ivory', 'ivy', 'khaki', 'lavender', 'lemon', 'leopard', 'light', 'lilac',
    'lime', 'magenta', 'maroon', 'mauve', 'merlot', 'midnight', 'mint', 'mocha',
    'multicolor', 'mushroom', 'mustard', 'natural', 'navy', 'nude', 'olive',
    'orange', 'peach', 'pewter', 'pink', 'plum', 'purple', 'rainbow', 'red',
    'rose', 'royal', 'rust', 'sand', 'sapphire', 'seashell', 'silver', 'skull',
    'slate', 'steel', 'stone', 'stonewash', 'sunflower', 'tan', 'taupe', 'teal',
    'tiger', 'turquoise', 'violet', 'walnut', 'wheat', 'white', 'wine', 'yellow',
]  # fmt: skip


def normalize_color(color_string):
    for norm_color in COLOR_SET:
        if norm_color in color_string:
            return norm_color
    return color_string


# ----------------------------------------------------------------- goal.py


def get_type_reward(purchased_product, goal, nlp):
    query_match = purchased_product["query"] == goal["query"]

    purchased_product_category = [x.strip() for x in purchased_product["product_category"].split("›")]
    goal_product_category = [x.strip() for x in goal["product_category"].split("›")]
    category_match = len(set(purchased_product_category) & set(goal_product_category)) >= 2

    purchased_type = purchased_product["name"]
    desired_type = goal["name"]

    purchased_type_parse = nlp(purchased_type)
    desired_type_parse = nlp(desired_type)

    purchased_type_parse = [t.text.lower() for t in purchased_type_parse if t.pos_ in ("PNOUN", "NOUN", "PROPN")]
    desired_type_parse = [t.text.lower() for t in desired_type_parse if t.pos_ in ("PNOUN", "NOUN", "PROPN")]

    n_intersect_type = len(set(purchased_type_parse) & set(desired_type_parse))
    if len(desired_type_parse) == 0:
        title_score = 0.2
    else:
        title_score = n_intersect_type / len(desired_type_parse)

    r_type = 1.0
    match = query_match or category_match or title_score > 0.2
    if not match:
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0

    return dict(r_type=r_type, query_match=query_match, category_match=category_match, title_score=title_score)


def get_attribute_reward(purchased_product, goal):
    purchased_attrs = purchased_product["Attributes"]
    goal_attrs = goal["attributes"]

    num_attr_matches = 0
    for g_attr in goal_attrs:
        matched = False
        for p_attr in purchased_attrs:
            score = token_set_ratio(p_attr, g_attr)
            if score > 85:
                num_attr_matches += 1
                matched = True
                break
        if not matched and (
            g_attr in purchased_product["Title"].lower()
            or g_attr in " ".join(purchased_product["BulletPoints"]).lower()
            or g_attr in purchased_product["Description"].lower()
        ):
            num_attr_matches += 1
            matched = True

    r_attr = num_attr_matches / len(goal_attrs)
    return r_attr, num_attr_matches


def get_option_reward(purchased_options, goal_options):
    purchased_options = [normalize_color(o) for o in purchased_options]
    goal_options = [normalize_color(o) for o in goal_options]

    num_option_matches = 0
    for g_option in goal_options:
        for p_option in purchased_options:
            score = token_set_ratio(p_option, g_option)
            if score > 85:
                num_option_matches += 1
                break

    r_option = num_option_matches / len(goal_options) if len(goal_options) > 0 else None
    return r_option, num_option_matches


def get_reward(purchased_product, goal, price, options, nlp):
    """The official ``get_reward(..., verbose=True)``: (total reward, info)."""
    r_type_dict = get_type_reward(purchased_product, goal, nlp)

    r_price = (price <= goal["price_upper"]) if goal["price_upper"] > 0 else None

    r_att, num_attr_matches = get_attribute_reward(purchased_product, goal)

    r_option, num_option_matches = get_option_reward(
        list(options.values()),
        goal["goal_options"].items() if isinstance(goal["goal_options"], dict) else goal["goal_options"],
    )

    total_reward = (num_attr_matches + num_option_matches + r_price) / (
        len(goal["attributes"]) + len(goal["goal_options"]) + 1
    )
    total_reward *= r_type_dict["r_type"]

    info = {
        "r_type": r_type_dict["r_type"],
        "r_att": r_att,
        "query_match": r_type_dict["query_match"],
        "category_match": r_type_dict["category_match"],
        "title_score": r_type_dict["title_score"],
        "num_attr_matches": num_attr_matches,
        "num_option_matches": num_option_matches,
    }
    if r_option is not None:
        info["r_option"] = r_option
    if r_price is not None:
        info["r_price"] = r_price
    return total_reward, info
