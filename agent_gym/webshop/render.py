"""Shop pages as HTML, and HTML back to the observations agents see.

Pages are built here with every piece of text escaped (``html.escape``) and
every URL built with ``urlencode``, so nothing a user types can become markup.
Clickable elements carry ``data-label`` (the lower-cased value an agent writes
in ``click[...]``); :func:`parse_page` reads any such page (the server's HTML or
the browser's rendered DOM) into a :class:`Page` with the ``text`` (WebShop's
``[SEP]``-joined "simple" observation) and ``text_rich`` renderings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode

from agent_gym.webshop.catalog import Product
from agent_gym.webshop.goals import Goal

RESULTS_PER_PAGE = 10
SUB_PAGES = ("description", "features", "reviews")
SEP = " [SEP] "

_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:1em auto}"
    "a.btn,button{display:inline-block;margin:2px;padding:2px 8px;border:1px solid #888;border-radius:4px;"
    "text-decoration:none;color:#000;background:#eee}a.selected{background:#9cf}"
    ".item{margin:.5em 0}"
)


def url(path: str, **params: Any) -> str:
    """A URL with properly encoded query parameters (``None`` values left out)."""
    clean = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode(clean)}" if clean else path


def encode_options(options: dict[str, str]) -> str:
    return json.dumps(options, sort_keys=True, separators=(",", ":"))


def decode_options(raw: str | None) -> dict[str, str]:
    """Options from a URL parameter; anything malformed counts as no options."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _button(label: str, href: str, text: str | None = None, selected: bool = False) -> str:
    cls = "btn selected" if selected else "btn"
    return (
        f'<a class="{cls}" data-label="{escape(label.lower())}" href="{escape(href)}">'
        f"{escape(text if text is not None else label)}</a>"
    )


def _page(kind: str, body: str, state: dict[str, Any]) -> str:
    attrs = " ".join(f'data-{k}="{escape(str(v))}"' for k, v in state.items() if v is not None)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>WebShop</title>'
        '<link rel="icon" href="data:,">'
        f"<style>{_STYLE}</style></head>"
        f'<body data-page="{kind}" {attrs}>{body}</body></html>'
    )


def _instruction(goal: Goal) -> str:
    return (
        '<div id="instruction"><h4>WebShop</h4><h4>Instruction:</h4>'
        f'<p id="instruction-text">{escape(goal.instruction_text)}</p></div>'
    )


def search_page(session: str, goal: Goal) -> str:
    body = (
        _instruction(goal) + '<form id="search-form" action="/search" method="get">'
        f'<input type="hidden" name="session" value="{escape(session)}">'
        '<input type="hidden" name="page" value="1">'
        '<input type="text" id="search_input" name="q" autocomplete="off">'
        '<button type="submit" id="search-button">Search</button></form>'
    )
    return _page("search", body, {"session": session})


def results_page(
    session: str, goal: Goal, keywords: str, page: int, asins: list[str], products: dict[str, Product]
) -> str:
    total = len(asins)
    start = (page - 1) * RESULTS_PER_PAGE
    shown = asins[start : start + RESULTS_PER_PAGE]
    parts = [_instruction(goal), _button("Back to Search", url("/", session=session))]
    parts.append(f"<div><span>Page {page} (Total results: {total})</span></div><div>")
    if page > 1:
        parts.append(_button("< Prev", url("/search", session=session, q=keywords, page=page - 1)))
    if start + RESULTS_PER_PAGE < total:
        parts.append(_button("Next >", url("/search", session=session, q=keywords, page=page + 1)))
    parts.append("</div>")
    for asin in shown:
        p = products[asin]
        href = url("/item", session=session, asin=asin, q=keywords, page=page)
        parts.append(
            f'<div class="item">{_button(asin, href, asin)}'
            f"<div>{escape(p.title)}</div><div>{escape(p.price_tag)}</div></div>"
        )
    return _page("results", "".join(parts), {"session": session, "q": keywords, "p": page})


def item_page(session: str, goal: Goal, product: Product, keywords: str, page: int, options: dict[str, str]) -> str:
    common = dict(session=session, asin=product.asin, q=keywords, page=page)
    parts = [
        _instruction(goal),
        _button("Back to Search", url("/", session=session)),
        _button("< Prev", url("/search", session=session, q=keywords, page=page)),
    ]
    for name, values in product.options.items():
        parts.append(f'<div class="options"><span>{escape(name)}</span>')
        for value in values:
            chosen = dict(options, **{name: value})
            href = url("/item", **common, opts=encode_options(chosen))
            parts.append(_button(value, href, value, selected=options.get(name) == value))
        parts.append("</div>")
    opts = encode_options(options)
    parts.append(f"<h2>{escape(product.title)}</h2>")
    parts.append(f"<div>Price: {escape(product.price_tag)}</div><div>Rating: {escape(product.rating)}</div><div>")
    for sub in SUB_PAGES:
        parts.append(_button(sub.title(), url("/item", **common, opts=opts, sub=sub)))
    parts.append("</div>")
    parts.append(_button("Buy Now", url("/buy", **common, opts=opts)))
    return _page(
        "item", "".join(parts), {"session": session, "asin": product.asin, "q": keywords, "p": page, "opts": opts}
    )


def sub_page(
    session: str, goal: Goal, product: Product, keywords: str, page: int, options: dict[str, str], sub: str
) -> str:
    opts = encode_options(options)
    parts = [
        _instruction(goal),
        _button("Back to Search", url("/", session=session)),
        _button("< Prev", url("/item", session=session, asin=product.asin, q=keywords, page=page, opts=opts)),
    ]
    if sub == "description":
        parts.append(f"<p>{escape(product.description)}</p>")
    elif sub == "features":
        parts.extend(f"<p>{escape(b)}</p>" for b in product.bullet_points)
    else:
        for review in product.reviews:
            parts.append(
                f"<p>{escape(str(review.get('title', '')))}</p><p>{escape(str(review.get('score', '')))}</p>"
                f"<p>{escape(str(review.get('body', '')))}</p>"
            )
        if not product.reviews:
            parts.append("<p>No reviews yet.</p>")
    state = {"session": session, "asin": product.asin, "q": keywords, "p": page, "opts": opts, "sub": sub}
    return _page("sub", "".join(parts), state)


def done_page(session: str, goal: Goal, product: Product, options: dict[str, str], result: dict[str, Any]) -> str:
    chosen = ", ".join(f"{k}: {v}" for k, v in options.items()) or "none"
    body = (
        "<h3>Thank you for shopping with us!</h3>"
        f"<div>Purchased: {escape(product.asin)}</div><div>Options: {escape(chosen)}</div>"
        "<div>Your score (min 0.0, max 1.0)</div>"
        f'<div id="reward">{result["reward"]:.4f}</div>'
    )
    return _page("done", body, {"session": session, "asin": product.asin, "reward": f"{result['reward']:.6f}"})


def error_page(session: str, message: str) -> str:
    body = f"<p>{escape(message)}</p>" + _button("Back to Search", url("/", session=session))
    return _page("error", body, {"session": session})


# ---------------------------------------------------------------------- parsing
@dataclass
class Clickable:
    label: str
    text: str
    href: str | None
    selected: bool = False


@dataclass
class Page:
    """A parsed shop page."""

    kind: str
    state: dict[str, str]
    chunks: list[tuple[str, Clickable | None]] = field(default_factory=list)
    clickables: list[Clickable] = field(default_factory=list)
    has_search_bar: bool = False

    @property
    def text(self) -> str:
        """WebShop's "simple" observation: visible strings joined with `` [SEP] ``."""
        return SEP.join(text for text, _ in self.chunks)

    @property
    def text_rich(self) -> str:
        """One line per visible string; clickables as ``[button] X [button_]`` (chosen options ``[clicked button]``)."""
        lines = []
        for text, click in self.chunks:
            if click is None:
                lines.append(text)
            elif click.selected:
                lines.append(f"[clicked button] {text} [clicked button_]")
            else:
                lines.append(f"[button] {text} [button_]")
        if self.has_search_bar:
            lines.insert(len(lines) - 1 if lines else 0, "[search box]")
        return "\n".join(lines)

    def find(self, label: str) -> Clickable | None:
        label = label.lower()
        for click in self.clickables:
            if click.label == label:
                return click
        return None


class _Parser(HTMLParser):
    _SKIP = {"head", "script", "style", "title", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page(kind="unknown", state={})
        self._skip = 0
        self._click: Clickable | None = None
        self._click_text: list[str] = []
        self._in_search_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "body":
            self.page.kind = a.get("data-page", "unknown")
            self.page.state = {k[5:]: v for k, v in a.items() if k.startswith("data-") and k != "data-page"}
        elif tag == "input" and a.get("name") == "q":
            self.page.has_search_bar = True
        elif "data-label" in a:
            self._click = Clickable(a["data-label"], "", a.get("href"), "selected" in a.get("class", "").split())
            self._click_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif self._click is not None and tag in ("a", "button"):
            self._click.text = " ".join("".join(self._click_text).split())
            self.page.clickables.append(self._click)
            self.page.chunks.append((self._click.text, self._click))
            self._click = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._click is not None:
            self._click_text.append(data)
            return
        text = " ".join(data.split())
        if text:
            self.page.chunks.append((text, None))


def parse_page(html: str) -> Page:
    """Parse a shop page (server HTML or a browser's ``page_source``)."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.page


def labels(page: Page) -> list[str]:
    """The ``click[...]`` values available on ``page``, in page order, without duplicates."""
    seen: list[str] = []
    for click in page.clickables:
        if click.label not in seen:
            seen.append(click.label)
    return seen


def available_actions(page: Page) -> list[str]:
    """``info["available_actions"]``: ``search[...]`` when there is a search bar, then ``click[label]`` for each clickable."""
    actions = ["search[...]"] if page.has_search_bar else []
    return actions + [f"click[{label}]" for label in labels(page)]


def describe(values: Iterable[str], limit: int = 12) -> str:
    values = list(values)
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")
