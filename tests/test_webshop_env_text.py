"""WebShop-Text-v0: API contract, expert, malformed actions, escaping, snapshots, bounded memory."""

from __future__ import annotations

import gc
import time

import gymnasium as gym
import pytest

pytest.importorskip("flask")
pytest.importorskip("bm25s")

import agent_gym  # noqa: E402,F401
from agent_gym.core import COMMON_INFO_KEYS  # noqa: E402
from agent_gym.errors import DataNotFoundError, InvalidTaskError  # noqa: E402
from agent_gym.webshop.env_text import WebShopTextEnv  # noqa: E402
from tests.expert_play import expert_replays_after_restore  # noqa: E402


@pytest.fixture(scope="module")
def env():
    e = WebShopTextEnv(expert=True)
    yield e
    e.close()


def run_expert(env, task_id):
    obs, info = env.reset(options={"task_id": task_id})
    reward, done = 0.0, False
    while not done:
        obs, reward, term, trunc, info = env.step(info["expert_action"])
        done = term or trunc
    return reward, info


def test_make_with_no_arguments_and_check_env():
    from gymnasium.utils.env_checker import check_env

    e = gym.make("WebShop-Text-v0")
    check_env(e.unwrapped, skip_render_check=True)
    obs, info = e.reset(seed=0)
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and obs.endswith(" [SEP] Search")
    for key in COMMON_INFO_KEYS:
        assert key in info
    assert info["available_actions"] == ["search[...]"]
    assert e.spec.max_episode_steps == 10 and WebShopTextEnv().max_episode_steps == 10
    assert e.unwrapped.task_ids[:3] == ["0", "1", "2"] and len(e.unwrapped.task_ids) == 500
    e.close()


def test_expert_reaches_full_reward_on_generated_test_goals(env):
    ids = env.task_ids[:250]
    rewards = [run_expert(env, t)[0] for t in ids]
    assert sum(r == 1.0 for r in rewards) / len(rewards) >= 0.95


def test_episode_info_and_reward_components(env):
    reward, info = run_expert(env, 7)
    assert reward == 1.0 and info["success"] is True
    comp = info["reward_components"]
    assert comp["reward"] == 1.0 and comp["r_type"] == 1.0 and comp["r_price"] is True
    assert info["task_type"] == env.goal.category
    assert info["available_actions"] == [] and info["expert_action"] is None


def test_pages_and_available_actions(env):
    obs, info = env.reset(options={"task_id": 1})
    obs, _, _, _, info = env.step("SEARCH[" + env.goal.query.upper() + "]")  # case-insensitive
    assert info["action_valid"]
    assert "Page 1 (Total results: " in obs and "Back to Search" in obs
    acts = info["available_actions"]
    assert "search[...]" not in acts and "click[back to search]" in acts
    first = next(a for a in acts if a.startswith("click[b0"))
    obs, _, _, _, info = env.step(first)
    assert "Buy Now" in obs and "Price: $" in obs
    for sub in ("description", "features", "reviews"):
        assert f"click[{sub}]" in info["available_actions"]
    obs, _, _, _, info = env.step("click[Features]")
    assert info["action_valid"] and "click[< prev]" in info["available_actions"]
    obs, _, _, _, info = env.step("click[< prev]")
    assert "Buy Now" in obs


def test_results_paging(env):
    env.reset(options={"task_id": 2})
    obs, *_, info = env.step("search[black free]")
    assert "Page 1 (Total results: 50)" in obs and "click[next >]" in info["available_actions"]
    obs, *_, info = env.step("click[next >]")
    assert "Page 2 (Total results: 50)" in obs and "click[< prev]" in info["available_actions"]
    assert obs.count("[SEP] $") <= 10


@pytest.mark.parametrize(
    "action, message",
    [
        ("search[]", "needs keywords"),
        ("search[  ]", "needs keywords"),
        ("search[shoes", "could not parse"),
        ("search[a]b]", "unbalanced"),
        ("click[[buy now]]", "unbalanced"),
        ("buy the red one", "could not parse"),
        ("click[]", "needs the value"),
        ("click[buy now]", "no button 'buy now'"),
        ("search[" + "x" * 100_000 + "]", "too long"),
        ("x" * 100_000, "100000 characters"),
    ],
)
def test_malformed_actions_are_explained(env, action, message):
    obs0, _ = env.reset(options={"task_id": 3})
    obs, reward, term, trunc, info = env.step(action)
    assert info["action_valid"] is False and reward == 0.0 and not term
    assert obs.startswith("Invalid action: ") and message in obs
    assert obs.endswith(obs0) and len(obs) < len(obs0) + 1000
    assert info["available_actions"] == ["search[...]"]


def test_search_not_available_off_the_search_page(env):
    env.reset(options={"task_id": 3})
    env.step("search[shoes]")
    obs, _, _, _, info = env.step("search[bags]")
    assert not info["action_valid"] and "no search bar" in obs


def test_user_text_is_escaped(env):
    env_html = WebShopTextEnv(observation_mode="html")
    env_html.reset(options={"task_id": 0})
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    html, *_, info = env_html.step(f"search[{attack}]")
    assert "<script>" not in html and "<img" not in html and "onerror=alert(2)>" not in html
    assert info["action_valid"]
    assert "click[back to search]" in info["available_actions"]  # the page structure is intact
    if "click[next >]" in info["available_actions"]:  # the keywords travel in links, still escaped
        obs, *_ = env_html.step("click[next >]")
        assert "<script>" not in obs and "Page 2" in obs
    client = env_html.app.test_client()
    page = client.get("/", query_string={"session": '<b id="x">s</b>'}).get_data(as_text=True)
    assert '<b id="x">' not in page and "&lt;b id=&quot;x&quot;&gt;" in page
    env_html.close()


def test_observation_modes(env):
    rich = WebShopTextEnv(observation_mode="text_rich", expert=True)
    obs, info = rich.reset(options={"task_id": 0})  # goal 0 has options
    assert "[search box]" in obs and "[SEP]" not in obs
    obs, *_, info = rich.step(info["expert_action"])
    assert "[button] Back to Search [button_]" in obs
    obs, *_, info = rich.step(info["expert_action"])  # the target's item page
    option = info["expert_action"]
    assert option.startswith("click[") and option != "click[buy now]"
    value = option[6:-1]
    assert f"[button] {value} [button_]" in obs
    obs, *_, info = rich.step(option)
    assert f"[clicked button] {value} [clicked button_]" in obs
    rich.close()
    with pytest.raises(ValueError, match="observation_mode"):
        WebShopTextEnv(observation_mode="pixels")


def test_step_limit_truncates(env):
    env.reset(options={"task_id": 5})
    env.step("search[shoes]")
    for i in range(8):
        *_, term, trunc, info = env.step("click[next >]" if i % 2 == 0 else "click[< prev]")
        assert not term and not trunc
    *_, term, trunc, info = env.step("click[back to search]")
    assert trunc and not term and info["elapsed_steps"] == 10
    short = gym.make("WebShop-Text-v0", max_episode_steps=2)
    short.reset(options={"task_id": 0})
    short.step("search[shoes]")
    *_, trunc, _ = short.step("click[next >]")
    assert trunc


def test_snapshot_restore_replays_exactly(env):
    obs, info = env.reset(options={"task_id": 6})
    obs, *_, info = env.step(info["expert_action"])
    obs, *_, info = env.step(info["expert_action"])
    assert expert_replays_after_restore(env, obs, info)[-1][1] == 1.0


def test_bad_task_ids_and_data_dirs(tmp_path):
    e = WebShopTextEnv()
    with pytest.raises(InvalidTaskError):
        e.reset(options={"task_id": "999999"})
    with pytest.raises(InvalidTaskError):
        e.reset(options={"task_id": 10_000})
    with pytest.raises(InvalidTaskError, match="unknown WebShop split"):
        WebShopTextEnv(split="validation")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        WebShopTextEnv(data_dir=tmp_path / "missing")
    dev = WebShopTextEnv(split="dev")
    assert dev.task_ids[0] == "500" and len(dev.task_ids) == 1000
    dev.reset(options={"task_id": 0})
    assert dev.current_task_id == "500"


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _episodes(env, n: int) -> None:
    ids = env.task_ids
    for i in range(n):
        env.reset(options={"task_id": ids[i % len(ids)]})
        env.step("search[water bottle]" if i % 2 else "click[buy now]")


def _memory_flat(n: int) -> None:
    pytest.importorskip("psutil")
    e = WebShopTextEnv(split="all", max_sessions=64)
    _episodes(e, 300)  # warm up caches
    gc.collect()
    before = _rss_mb()
    start = time.perf_counter()
    _episodes(e, n)
    gc.collect()
    grown = _rss_mb() - before
    assert len(e.sessions) <= 64
    assert grown < 25, f"RSS grew by {grown:.1f} MB over {n} episodes"
    assert time.perf_counter() - start < 120
    e.close()


def test_memory_flat_over_1000_episodes():
    _memory_flat(1000)


@pytest.mark.slow
def test_memory_flat_over_10000_episodes():
    _memory_flat(10_000)


def test_env_on_a_data_dir_in_official_format(tmp_path):
    """An official-format folder (here: generated files under the official names) drives the env."""
    import shutil

    from agent_gym.webshop import generator

    src = generator.write_catalog(tmp_path / "gen", num_products=60, seed=5)
    data = tmp_path / "official"
    data.mkdir()
    shutil.copy(src / generator.PRODUCTS_FILE, data / "items_shuffle_1000.json")
    shutil.copy(src / generator.ATTRIBUTES_FILE, data / "items_ins_v2_1000.json")
    shutil.copy(src / generator.INSTRUCTIONS_FILE, data / "items_human_ins.json")
    e = WebShopTextEnv(data_dir=data, split="all", expert=True)
    assert len(e.shop.products) == 60 and len(e.task_ids) == len(e.shop.goals)
    rewards = [run_expert(e, t)[0] for t in e.task_ids[:20]]
    assert sum(r == 1.0 for r in rewards) >= 19
    assert len(e.shop.goals) < 500
    with pytest.raises(InvalidTaskError, match="split 'dev' is empty"):
        WebShopTextEnv(data_dir=data, split="dev")
    # without human instructions: the official synthetic goals (one per option combination)
    (data / "items_human_ins.json").unlink()
    synthetic = WebShopTextEnv(data_dir=data, split="all")
    assert synthetic.shop is not e.shop and len(synthetic.task_ids) >= 60
    first = synthetic.shop.goals[0]
    n_combos = 1
    for values in synthetic.shop.products[first.asin].options.values():
        n_combos *= len(values)
    assert sum(g.asin == first.asin for g in synthetic.shop.goals) == n_combos
