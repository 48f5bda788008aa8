"""The WebShop Flask application: pages, per-session goals and purchases.

Routes (all GET, state in the URL, so pages can be reloaded and snapshotted):

* ``/?session=S`` search page with the session's instruction
* ``/search?session=S&q=KEYWORDS&page=N`` results, 10 per page, up to 50
* ``/item?session=S&asin=A&q=..&page=N&opts={json}[&sub=description|features|reviews]``
* ``/buy?session=S&asin=A&q=..&page=N&opts={json}`` purchase: computes the reward

A session id ``fixed_<i>`` (optionally ``fixed_<i>_<anything>``) pins goal ``i``;
any other id gets a goal chosen from a hash of the id. The shop (catalog,
goals, index) is shared read-only; per-session state is a goal index and the
last purchase, kept in a :class:`SessionStore` bounded by count and idle time.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agent_gym.errors import require
from agent_gym.webshop import render
from agent_gym.webshop.reward import compute_reward
from agent_gym.webshop.shop import Shop

MAX_KEYWORDS_CHARS = 1000
MAX_SESSION_CHARS = 128
_FIXED = re.compile(r"^fixed_(\d+)(?:_.*)?$")


@dataclass
class SessionState:
    goal_index: int
    result: dict[str, Any] | None = None
    touched: float = 0.0


class SessionStore:
    """Per-session state, least-recently-used first out, with an idle time-to-live."""

    def __init__(self, num_goals: int, max_sessions: int = 1000, ttl_s: float = 3600.0) -> None:
        self.num_goals = num_goals
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self._data: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def goal_for(self, session: str) -> int:
        match = _FIXED.match(session)
        if match:
            return int(match.group(1)) % self.num_goals
        return zlib.crc32(session.encode("utf-8")) % self.num_goals

    def get(self, session: str) -> SessionState:
        now = time.monotonic()
        with self._lock:
            state = self._data.pop(session, None)
            if state is None or now - state.touched > self.ttl_s:
                state = SessionState(self.goal_for(session))
            state.touched = now
            self._data[session] = state
            while len(self._data) > self.max_sessions:
                self._data.popitem(last=False)
            while self._data:
                oldest_key = next(iter(self._data))
                if now - self._data[oldest_key].touched <= self.ttl_s:
                    break
                del self._data[oldest_key]
            return state

    def peek(self, session: str) -> SessionState | None:
        with self._lock:
            return self._data.get(session)

    def set_result(self, session: str, result: dict[str, Any] | None) -> None:
        self.get(session).result = result


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default


def create_app(shop: Shop, max_sessions: int = 1000, session_ttl_s: float = 3600.0, fix_dict_options: bool = False):
    """A Flask app serving ``shop``; ``app.config["SESSIONS"]`` is its :class:`SessionStore`.

    ``fix_dict_options`` is passed to :func:`~agent_gym.webshop.reward.compute_reward` (``False``: the
    official scoring of dict goal options, see docs/webshop.md).
    """
    flask = require("flask", "webshop")
    app = flask.Flask("agent_gym.webshop")
    store = SessionStore(len(shop.goals), max_sessions, session_ttl_s)
    app.config["SESSIONS"] = store
    app.config["SHOP"] = shop

    def html(body: str, status: int = 200):
        return flask.Response(body, status=status, mimetype="text/html")

    def session_arg() -> str:
        session = flask.request.args.get("session") or ""
        if not session:
            session = "s" + secrets.token_hex(6)
        return session[:MAX_SESSION_CHARS]

    def common() -> tuple[str, Any, str, int]:
        session = session_arg()
        goal = shop.goals[store.get(session).goal_index]
        keywords = (flask.request.args.get("q") or "")[:MAX_KEYWORDS_CHARS]
        page = _int(flask.request.args.get("page"), 1, 1, 10_000)
        return session, goal, keywords, page

    @app.get("/")
    def index():
        session, goal, _, _ = common()
        return html(render.search_page(session, goal))

    @app.get("/search")
    def search():
        session, goal, keywords, page = common()
        asins = shop.engine.search(keywords)
        last = max(1, (len(asins) + render.RESULTS_PER_PAGE - 1) // render.RESULTS_PER_PAGE)
        return html(render.results_page(session, goal, keywords, min(page, last), asins, shop.products))

    def product_or_error(session: str):
        asin = flask.request.args.get("asin") or ""
        product = shop.products.get(asin) or shop.products.get(asin.upper())
        if product is None:
            return None, html(render.error_page(session, f"No product with id {asin[:40]!r}."), 404)
        return product, None

    def options_for(product) -> dict[str, str]:
        chosen = render.decode_options(flask.request.args.get("opts"))
        return {k: v for k, v in chosen.items() if v in product.options.get(k, [])}

    @app.get("/item")
    def item():
        session, goal, keywords, page = common()
        product, error = product_or_error(session)
        if error is not None:
            return error
        options = options_for(product)
        sub = flask.request.args.get("sub")
        if sub in render.SUB_PAGES:
            return html(render.sub_page(session, goal, product, keywords, page, options, sub))
        return html(render.item_page(session, goal, product, keywords, page, options))

    @app.get("/buy")
    def buy():
        session, goal, _, _ = common()
        product, error = product_or_error(session)
        if error is not None:
            return error
        options = options_for(product)
        result = compute_reward(product, goal, options, fix_dict_options=fix_dict_options)
        store.set_result(session, result)
        return html(render.done_page(session, goal, product, options, result))

    return app
