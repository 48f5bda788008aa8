"""The WebShop Flask app: sessions (bounded), routes, bad requests, escaping."""

from __future__ import annotations

import pytest

pytest.importorskip("flask")
pytest.importorskip("bm25s")

from agent_gym.webshop import render  # noqa: E402
from agent_gym.webshop.app import SessionStore, create_app  # noqa: E402
from agent_gym.webshop.shop import load_shop  # noqa: E402


@pytest.fixture(scope="module")
def shop():
    return load_shop()


@pytest.fixture()
def client(shop):
    app = create_app(shop, max_sessions=50)
    return app, app.test_client()


def test_session_store_is_bounded_by_count_and_idle_time(monkeypatch):
    store = SessionStore(num_goals=100, max_sessions=500)
    for i in range(10_000):
        store.get(f"s{i}")
    assert len(store) == 500
    assert store.peek("s9999") is not None and store.peek("s0") is None
    assert store.get("fixed_42").goal_index == 42 and store.get("fixed_142_abc").goal_index == 42
    assert store.get("anything").goal_index == store.get("anything").goal_index
    clock = [1000.0]
    monkeypatch.setattr("agent_gym.webshop.app.time.monotonic", lambda: clock[0])
    ttl = SessionStore(num_goals=10, max_sessions=100, ttl_s=60)
    ttl.get("a")
    ttl.set_result("a", {"reward": 1.0})
    clock[0] += 61
    ttl.get("b")
    assert ttl.peek("a") is None and len(ttl) == 1


def test_app_sessions_stay_bounded(client):
    app, c = client
    for i in range(300):
        assert c.get("/", query_string={"session": f"user{i}"}).status_code == 200
    assert len(app.config["SESSIONS"]) == 50


def test_pinned_goal_and_purchase_flow(client, shop):
    app, c = client
    goal = shop.goals[3]
    page = render.parse_page(c.get("/?session=fixed_3").get_data(as_text=True))
    assert page.kind == "search" and goal.instruction_text in page.text
    product = shop.products[goal.asin]
    opts = render.encode_options({name: values[0] for name, values in product.options.items()})
    done = c.get("/buy", query_string={"session": "fixed_3", "asin": goal.asin, "opts": opts}).get_data(as_text=True)
    page = render.parse_page(done)
    assert page.kind == "done" and "Your score (min 0.0, max 1.0)" in page.text
    result = app.config["SESSIONS"].peek("fixed_3").result
    assert result["purchased_asin"] == goal.asin and 0.0 <= result["reward"] <= 1.0


def test_bad_requests_get_clear_pages(client, shop):
    _, c = client
    r = c.get("/item", query_string={"session": "fixed_1", "asin": "<nope>"})
    assert r.status_code == 404 and "No product with id" in r.get_data(as_text=True)
    assert "<nope>" not in r.get_data(as_text=True)
    r = c.get("/search", query_string={"session": "fixed_1", "q": "bottle", "page": "banana"})
    assert r.status_code == 200 and "Page 1 (Total results:" in render.parse_page(r.get_data(as_text=True)).text
    r = c.get("/search", query_string={"session": "fixed_1", "q": "bottle", "page": "999"})
    text = render.parse_page(r.get_data(as_text=True)).text
    n = len(shop.engine.search("bottle"))
    assert n > 10 and f"Page {(n + 9) // 10} (Total results: {n})" in text
    r = c.get("/item", query_string={"session": "fixed_1", "asin": "B02OFHV9VG", "opts": "{broken"})
    assert r.status_code in (200, 404)
    r = c.get("/search", query_string={"session": "fixed_1", "q": "zzzqqq"})
    assert "Page 1 (Total results: 0)" in render.parse_page(r.get_data(as_text=True)).text


def test_every_user_string_is_escaped(client):
    _, c = client
    attack = "</p><script>alert('x')</script>"
    for path, params in [
        ("/", {"session": attack}),
        ("/search", {"session": attack, "q": attack}),
        ("/item", {"session": "fixed_0", "asin": attack, "q": attack}),
    ]:
        body = c.get(path, query_string=params).get_data(as_text=True)
        assert "<script>" not in body, path


def test_bad_catalog_size_is_refused():
    with pytest.raises(ValueError, match="num_products must be a positive int"):
        load_shop(None, 0)


def test_serve_webshop_taken_port_is_a_message(capsys):
    import socket

    from scripts.serve_webshop import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["--port", str(port), "--num-products", "50"]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "pick another --port" in err
