"""WebShop-Browser-v0: same observations and rewards as the text env, in headless Chromium."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("flask")
pytest.importorskip("selenium")

from agent_gym.errors import BackendUnavailableError  # noqa: E402
from agent_gym.webshop import env_browser  # noqa: E402
from agent_gym.webshop.env_browser import WebShopBrowserEnv, browser_available  # noqa: E402
from agent_gym.webshop.env_text import WebShopTextEnv  # noqa: E402
from tests.expert_play import expert_replays_after_restore  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def envs():
    reason = browser_available()
    if reason:
        pytest.skip(f"no browser: {reason}")
    browser = WebShopBrowserEnv(expert=True)
    text = WebShopTextEnv(expert=True)
    yield browser, text
    browser.close()
    text.close()


def play_both(browser, text, task_id, actions=None):
    """Play the expert (or ``actions``) in both envs; compare every step."""
    ob, ib = browser.reset(options={"task_id": task_id})
    ot, it = text.reset(options={"task_id": task_id})
    assert ob == ot and ib["available_actions"] == it["available_actions"]
    rewards = []
    queue = list(actions) if actions is not None else None
    while True:
        action = queue.pop(0) if queue is not None else it["expert_action"]
        ot, rt, term_t, trunc_t, it = text.step(action)
        ob, rb, term_b, trunc_b, ib = browser.step(action)
        assert (ob, rb, term_b, trunc_b) == (ot, rt, term_t, trunc_t), action
        assert ib["available_actions"] == it["available_actions"]
        assert ib["action_valid"] == it["action_valid"]
        rewards.append(rb)
        if term_t or trunc_t or (queue is not None and not queue):
            return rewards, ib, it


def test_expert_episodes_match_text_env(envs):
    browser, text = envs
    for task_id in (0, 11):
        rewards, ib, it = play_both(browser, text, task_id)
        assert rewards[-1] == 1.0
        assert ib["reward_components"] == it["reward_components"]


def test_imperfect_purchase_and_invalid_actions_match(envs):
    browser, text = envs
    actions = [
        "click[nothing here]",
        "search[]",
        "search[Black  FREE <b>bold</b> café]",
        "click[next >]",
        "click[< prev]",
    ]
    _, ib, it = play_both(browser, text, 20, actions)
    first = next(a for a in it["available_actions"] if a.startswith("click[b0"))
    product_actions = [first, "click[description]", "click[< prev]"]  # buy without choosing options
    rewards, ib, it = play_both_continue(browser, text, product_actions + ["click[buy now]"])
    assert rewards[-1] == it["reward_components"]["reward"] == ib["reward_components"]["reward"]


def play_both_continue(browser, text, actions):
    rewards = []
    for action in actions:
        ot, rt, tt, ut, it = text.step(action)
        ob, rb, tb, ub, ib = browser.step(action)
        assert (ob, rb, tb, ub) == (ot, rt, tt, ut), action
        rewards.append(rb)
    return rewards, ib, it


def test_close_stops_browser_and_server():
    if browser_available():
        pytest.skip("no browser")
    env = WebShopBrowserEnv()
    port = env._server.server_port
    env.reset(options={"task_id": 0})
    env.close()
    assert env._driver is None and env._server is None
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_missing_browser_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(env_browser, "CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(BackendUnavailableError, match="apt-get install chromium chromium-driver"):
        WebShopBrowserEnv()


def test_browser_snapshot_restore(envs):
    browser, _ = envs
    obs, info = browser.reset(options={"task_id": 4})
    obs, *_, info = browser.step(info["expert_action"])
    assert expert_replays_after_restore(browser, obs, info)[-1][1] == 1.0
