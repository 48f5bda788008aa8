"""WebShop reward: hand-built cases for each component of the published formula."""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("rapidfuzz")

from agent_gym.webshop.catalog import Product  # noqa: E402
from agent_gym.webshop.goals import Goal  # noqa: E402
from agent_gym.webshop.reward import (  # noqa: E402
    compute_reward,
    normalize_color,
    noun_backend,
    option_matches,
    title_nouns,
    type_reward,
)

PATH = "Clothing, Shoes & Jewelry › Men › Shoes › Running Shoes"


def make_product(**kw) -> Product:
    base = dict(
        asin="B000000001",
        title="Kestrel Lightweight Running Shoes - Breathable Mesh",
        category="fashion",
        query="running shoes",
        product_category=PATH,
        description="A shoe for daily runs with a rubber sole.",
        bullet_points=["ARCH SUPPORT: keeps you comfortable"],
        options={"color": ["black", "navy blue"], "size": ["8", "9"]},
        attributes=["lightweight", "breathable mesh"],
        price=45.0,
        price_tag="$45.0",
    )
    base.update(kw)
    return Product(**base)


def make_goal(**kw) -> Goal:
    base = dict(
        asin="B000000001",
        category="fashion",
        query="running shoes",
        name="Kestrel Lightweight Running Shoes - Breathable Mesh",
        product_category=PATH,
        instruction_text="i need lightweight running shoes, with color: black, and size: 9, and price lower than 50.00 dollars",
        attributes=("lightweight",),
        goal_options=("black", "9"),
        price_upper=50.0,
    )
    base.update(kw)
    return Goal(**base)


def test_perfect_purchase_scores_one_with_all_components():
    r = compute_reward(make_product(), make_goal(), {"color": "black", "size": "9"})
    assert r["reward"] == 1.0
    assert r["r_type"] == 1.0 and r["r_att"] == 1.0 and r["r_option"] == 1.0 and r["r_price"] is True
    assert r["attribute_matches"] == {"lightweight": True}
    assert r["option_matches"] == {"black": True, "9": True}
    for key in ("query_match", "category_match", "title_score", "price", "price_upper", "chosen_options"):
        assert key in r


def test_attribute_fuzzy_match_text_hit_and_miss():
    goal = make_goal(attributes=("breathable mesh", "arch support", "rubber sole", "waterproof"), goal_options=())
    r = compute_reward(make_product(), goal, {})
    # breathable mesh: attribute; arch support: bullet text; rubber sole: description text; waterproof: nowhere
    assert r["attribute_matches"] == {
        "breathable mesh": True,
        "arch support": True,
        "rubber sole": True,
        "waterproof": False,
    }
    assert r["num_attr_matches"] == 3
    assert r["reward"] == pytest.approx((3 + 0 + 1) / (4 + 0 + 1))


def test_fuzzy_attribute_threshold():
    product = make_product(
        attributes=["light weight design"], title="Kestrel Running Shoes", bullet_points=[], description=""
    )
    assert (
        compute_reward(product, make_goal(attributes=("light weight",), goal_options=()), {})["num_attr_matches"] == 1
    )
    assert compute_reward(product, make_goal(attributes=("heavy duty",), goal_options=()), {})["num_attr_matches"] == 0


def test_options_use_colour_normalisation():
    assert normalize_color("navy blue") == "blue"
    assert normalize_color("large") == "large"
    assert option_matches(["navy blue"], ["blue"]) == [True]
    assert option_matches(["dark red"], ["red"]) == [False]  # official list: 'dark' precedes 'red'
    assert option_matches(["red"], ["blue"]) == [False]
    r = compute_reward(make_product(), make_goal(), {"color": "navy blue", "size": "8"})
    assert r["option_matches"] == {"black": False, "9": False}
    assert r["reward"] == pytest.approx((1 + 0 + 1) / (1 + 2 + 1))


def test_price_bound():
    r = compute_reward(make_product(price=55.0), make_goal(), {"color": "black", "size": "9"})
    assert r["r_price"] is False
    assert r["reward"] == pytest.approx(3 / 4)


def test_type_reward_levels():
    product = make_product()
    other_path = "Home & Kitchen › Kitchen › Pans"
    # same query -> 1.0
    assert type_reward(product, make_goal())["r_type"] == 1.0
    # nothing shared and no common title noun -> 0
    far = make_goal(query="frying pan", product_category=other_path, name="Aldora Cast Iron Frying Pan")
    assert type_reward(product, far)["title_score"] == 0.0
    assert type_reward(product, far)["r_type"] == 0.0
    # one of four goal nouns shared (0.25 > 0.2) -> 1.0 even without query/category match
    quarter = make_goal(query="x", product_category=other_path, name="Aldora Shoes Pan Skillet")
    info = type_reward(product, quarter)
    assert info["title_score"] == pytest.approx(0.25) and info["r_type"] == 1.0
    # 1 of 6 nouns (0.167): no match -> 0.5
    sixth = make_goal(query="x", product_category=other_path, name="Aldora Shoes Pan Skillet Lid Bowl")
    info = type_reward(product, sixth)
    assert 0.1 <= info["title_score"] <= 0.2 and info["r_type"] == 0.5
    # same query but overlap < 0.1 -> 0.1 (the override applies after the match test, as in WebShop)
    tiny = make_goal(name="Aldora Shoes Pan Skillet Lid Bowl Cup Plate Fork Knife Spoon Tray")
    info = type_reward(product, tiny)
    assert info["query_match"] and 0 < info["title_score"] < 0.1 and info["r_type"] == 0.1
    # two shared category-path items count as a match
    cat = make_goal(
        query="x",
        product_category="Clothing, Shoes & Jewelry › Men › Hats",
        name="Aldora Shoes Pan Skillet Lid Bowl Cup",
    )
    info = type_reward(product, cat)
    assert info["category_match"] and info["r_type"] == 1.0


def test_type_factor_multiplies_total():
    goal = make_goal(query="frying pan", product_category="Home › Pans", name="Aldora Cast Iron Frying Pan")
    assert compute_reward(make_product(), goal, {"color": "black", "size": "9"})["reward"] == 0.0


def test_noun_fallback_heuristic():
    if noun_backend() == "heuristic":
        nouns = title_nouns("Kestrel Lightweight Running Shoes, Navy Blue, Pack of 2")
        assert nouns == ("kestrel", "running", "shoes")
    else:  # a spaCy model is installed: nouns come from its POS tags
        assert "shoes" in title_nouns("Kestrel Lightweight Running Shoes")


def test_goal_is_hashable_and_serialisable():
    goal = make_goal()
    assert hash(goal) == hash(replace(goal))
    assert goal.to_dict()["goal_options"] == ["black", "9"]
