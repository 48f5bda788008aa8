"""The oracle expert: search from the goal, find the target product, choose the goal options, buy.

It knows the goal's target asin (an oracle, as WebShop's own expert
trajectories did) and reads only the current page's state. Search keywords are
the instruction without its price clause; when the target is not on the first
:data:`MAX_PAGES` result pages for them, the expert searches the target's title.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent_gym.webshop import render
from agent_gym.webshop.goals import Goal
from agent_gym.webshop.render import Page
from agent_gym.webshop.reward import fuzzy_score, normalize_color
from agent_gym.webshop.shop import Shop

#: The expert pages at most this many result pages before it prefers a title search.
MAX_PAGES = 3
_PRICE = re.compile(r",?\s*and price lower than [\d.,]+ dollars\s*$")


def instruction_keywords(goal: Goal) -> str:
    """The instruction without its price clause, lower-cased, brackets removed."""
    text = _PRICE.sub("", goal.instruction_text.lower())
    return " ".join(re.sub(r"[\[\]]", " ", text).split())


def _title_keywords(title: str) -> str:
    return " ".join(re.sub(r"[^0-9a-zA-Z.\- ]", " ", title.lower()).split())


def expert_keywords(shop: Shop, goal: Goal) -> str:
    """Keywords that put the target within the first :data:`MAX_PAGES` pages (instruction, else title)."""
    return _expert_keywords_cached(shop, goal)


@lru_cache(maxsize=8192)
def _expert_keywords_cached(shop: Shop, goal: Goal) -> str:
    limit = MAX_PAGES * render.RESULTS_PER_PAGE
    for keywords in (instruction_keywords(goal), _title_keywords(shop.products[goal.asin].title)):
        if goal.asin in shop.engine.search(keywords)[:limit]:
            return keywords
    return _title_keywords(shop.products[goal.asin].title)


def option_choices(shop: Shop, goal: Goal) -> dict[str, str]:
    """Goal options mapped onto the target's option groups ``{group: value}`` (exact, else best fuzzy > 85)."""
    product = shop.products[goal.asin]
    chosen: dict[str, str] = {}
    for wanted in goal.goal_options:
        wanted_l = str(wanted).lower()
        best, best_score = None, 85.0
        for group, values in product.options.items():
            if group in chosen:
                continue
            for value in values:
                score = 101.0 if value == wanted_l else fuzzy_score(normalize_color(value), normalize_color(wanted_l))
                if score > best_score:
                    best, best_score = (group, value), score
        if best is not None:
            chosen[best[0]] = best[1]
    return chosen


def expert_action(shop: Shop, goal: Goal, page: Page) -> str | None:
    """The expert's next action on ``page`` (``None`` once the episode is over)."""
    target = goal.asin
    state = page.state
    if page.kind == "search":
        return f"search[{expert_keywords(shop, goal)}]"
    if page.kind == "results":
        results = shop.engine.search(state.get("q", ""))
        if target not in results:
            return "click[back to search]"
        want_page = results.index(target) // render.RESULTS_PER_PAGE + 1
        current_page = int(state.get("p", "1") or 1)
        if want_page == current_page:
            return f"click[{target.lower()}]"
        return "click[next >]" if want_page > current_page else "click[< prev]"
    if page.kind == "item":
        if state.get("asin") != target:
            return "click[< prev]"
        current_opts = render.decode_options(state.get("opts"))
        for group, value in option_choices(shop, goal).items():
            if current_opts.get(group) != value:
                return f"click[{value}]"
        return "click[buy now]"
    if page.kind == "sub":
        return "click[< prev]"
    if page.kind == "done":
        return None
    return "click[back to search]"
