"""WebShop catalogs: official-format loaders (real files where available), generator, goals, splits, search."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bm25s")

from agent_gym.errors import DataNotFoundError, GameLoadError, InvalidTaskError  # noqa: E402
from agent_gym.webshop import catalog, generator, goals  # noqa: E402
from agent_gym.webshop.search import SearchEngine  # noqa: E402
from agent_gym.webshop.shop import load_data_dir  # noqa: E402


@pytest.fixture(scope="module")
def small_catalog(tmp_path_factory):
    return generator.write_catalog(tmp_path_factory.mktemp("ws") / "cat", num_products=80, seed=7)


def test_official_attribute_file(webshop_data_dir):
    attrs = catalog.load_attributes(webshop_data_dir / "items_ins_v2_1000.json")
    assert len(attrs) == 1000
    assert all(len(asin) == 10 and asin.startswith("B") for asin in attrs)
    with_ins = [a for a in attrs.values() if a.get("instruction")]
    assert with_ins and all(isinstance(a["instruction_attributes"], list) for a in with_ins)
    assert any(a["attributes"] for a in attrs.values())


def test_official_goal_texts(webshop_data_dir):
    texts = catalog.load_goal_texts(webshop_data_dir / "human_goals.json")
    assert len(texts) == 12087
    assert texts[0] == "i need a long clip-in hair extension which is natural looking"
    # the standard splits over this order
    assert len(goals.split_range("test", len(texts))) == 500
    assert len(goals.split_range("dev", len(texts))) == 1000
    assert len(goals.split_range("train", len(texts))) == 12087 - 1500


def test_official_attributes_drive_synthetic_goals(webshop_data_dir, small_catalog):
    """Products in the official format + the real items_ins_v2 file -> goals via the official synthetic path."""
    real = catalog.load_attributes(webshop_data_dir / "items_ins_v2_1000.json")
    asin, record = next((a, r) for a, r in sorted(real.items()) if r.get("instruction"))
    raw = json.loads((small_catalog / generator.PRODUCTS_FILE).read_text())[0]
    raw = dict(raw, asin=asin)
    product = catalog.product_from_record(raw, real)
    assert product.attributes == record["attributes"]
    made = goals.synthetic_goals([product], real, price_seed=0)
    n_combos = 1
    for values in product.options.values():
        n_combos *= len(values)
    assert len(made) == n_combos
    assert made[0].instruction_text.startswith(record["instruction"].rstrip("."))
    assert list(made[0].attributes) == record["instruction_attributes"]


def test_goal_order_follows_human_goals_file(webshop_data_dir):
    texts = catalog.load_goal_texts(webshop_data_dir / "human_goals.json")
    product = catalog.Product("B000000001", "T", "c", "q", "a › b", "", [], {}, ["x"], 12.0, "$12.0")
    made = [goals._goal(product, texts[i], ["x"], [], 0) for i in (40, 3, 7)]
    ordered = goals.order_goals(made, texts, shuffle_seed=233)
    assert [g.instruction_text.split(", and price")[0] for g in ordered] == [texts[3], texts[7], texts[40]]


def test_generator_is_deterministic_and_official_format():
    a = generator.generate(50, seed=3)
    b = generator.generate(50, seed=3)
    c = generator.generate(50, seed=4)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert json.dumps(a, sort_keys=True) != json.dumps(c, sort_keys=True)
    rec = a["products"][0]
    for key in (
        "asin",
        "name",
        "category",
        "query",
        "product_category",
        "full_description",
        "small_description",
        "pricing",
        "images",
        "customization_options",
    ):
        assert key in rec
    assert set(a["attributes"]) == {p["asin"] for p in a["products"]}
    assert len({p["category"] for p in generator.generate(200, seed=0)["products"]}) >= 8


def test_product_loader_on_generated_files(small_catalog):
    attrs = catalog.load_attributes(small_catalog / generator.ATTRIBUTES_FILE)
    products = catalog.load_products(small_catalog / generator.PRODUCTS_FILE, attrs)
    assert len(products) == 80
    p = products[0]
    assert p.title and p.bullet_points and p.attributes != ["DUMMY_ATTR"]
    assert all(v == v.lower() for vals in p.options.values() for v in vals)
    assert p.price > 0 and p.price_tag.startswith("$")


def test_pricing_parse_and_bad_records(tmp_path):
    assert catalog.parse_pricing("$12.99", "B1") == (12.99, "$12.99")
    price, tag = catalog.parse_pricing("$10.00 - $20.00", "B000000002")
    assert 10 <= price <= 20 and tag == "$10.0 to $20.0"
    assert catalog.parse_pricing("$10.00 - $20.00", "B000000002")[0] == price  # seeded by asin
    assert catalog.parse_pricing(None, "B1") == (100.0, "$100.0")
    path = tmp_path / "items_shuffle_x.json"
    path.write_text(
        json.dumps(
            [
                {"asin": "nan"},
                {"asin": "B000000003", "name": "Thing", "pricing": "$5"},
                {"asin": "B000000003", "name": "Dup"},
            ]
        )
    )
    products = catalog.load_products(path)
    assert [p.title for p in products] == ["Thing"] and products[0].attributes == ["DUMMY_ATTR"]
    bad = tmp_path / "items_shuffle_bad.json"
    bad.write_text("{not json")
    with pytest.raises(GameLoadError, match="items_shuffle_bad.json"):
        catalog.load_products(bad)
    with pytest.raises(DataNotFoundError, match="prepare webshop"):
        catalog.load_products(tmp_path / "missing.json")


def test_data_dir_loading(small_catalog, tmp_path):
    products, goal_list = load_data_dir(small_catalog)
    assert len(products) == 80 and len(goal_list) > 80
    again = load_data_dir(small_catalog)[1]
    assert [g.instruction_text for g in goal_list] == [g.instruction_text for g in again]
    assert all(g.asin in {p.asin for p in products} for g in goal_list)
    assert all(g.price_upper > {p.asin: p for p in products}[g.asin].price for g in goal_list)
    with pytest.raises(DataNotFoundError, match="items_shuffle"):
        load_data_dir(tmp_path)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_data_dir(tmp_path / "nope")


def test_splits_file_is_versioned():
    spec = goals.split_spec()
    assert spec["version"] == 1
    assert goals.split_range("test", 3000) == range(0, 500)
    assert goals.split_range("dev", 3000) == range(500, 1500)
    assert goals.split_range("train", 3000) == range(1500, 3000)
    with pytest.raises(InvalidTaskError, match="unknown WebShop split"):
        goals.split_range("validation", 3000)


def test_search_engine(small_catalog):
    products, goal_list = load_data_dir(small_catalog)
    engine = SearchEngine(products)
    target = goal_list[0]
    title = {p.asin: p.title for p in products}[target.asin]
    hits = engine.search(title)
    assert hits[0] == target.asin
    assert len(hits) <= 50 and len(set(hits)) == len(hits)
    assert engine.search(title) == engine.search_uncached(title)
    assert engine.search("") == [] and engine.search("zzzqqq unknownword") == []


def test_prepare_command(tmp_path, capsys):
    from scripts.prepare import main

    out = tmp_path / "gen"
    assert main(["webshop", "--out", str(out), "--num-products", "40", "--seed", "1"]) == 0
    assert (out / generator.PRODUCTS_FILE).exists() and (out / generator.META_FILE).exists()
    assert main(["webshop", "--check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "40 products" in text and "split sizes" in text
    assert main(["webshop", "--check", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert main(["webshop", "--out", str(tmp_path / "a_file" / "gen"), "--num-products", "40"]) == 1
    assert "a_file" in capsys.readouterr().err  # an unwritable --out is a message, not a traceback
