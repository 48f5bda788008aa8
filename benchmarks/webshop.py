"""WebShop speed and memory: ``python -m benchmarks.webshop [--sizes 1000,100000] [--no-browser]``.

Prints search latency p50/p99 (uncached queries made from goal instructions)
at each generated catalog size, index build time and process memory (RSS),
text-env steps per second with the expert, and browser-env seconds per step.
Targets: search p50 <= 5 ms at 100k products, <= 1 GB RAM.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench_search(size: int, queries: int) -> dict:
    from agent_gym.webshop import catalog, generator, goals
    from agent_gym.webshop.expert import instruction_keywords
    from agent_gym.webshop.search import SearchEngine

    gc.collect()
    base = rss_mb()
    t0 = time.perf_counter()
    data = generator.generate(size, seed=0, goals_per_product=1)
    products = [catalog.product_from_record(r, data["attributes"]) for r in data["products"]]
    by_asin = {p.asin: p for p in products}
    goal_list = goals.human_goals(products, data["instructions"], price_seed=0)[:queries]
    del data
    gc.collect()
    t1 = time.perf_counter()
    engine = SearchEngine(products)
    t2 = time.perf_counter()
    latencies = []
    for goal in goal_list:
        keywords = instruction_keywords(goal)
        start = time.perf_counter()
        engine.search_uncached(keywords)
        latencies.append((time.perf_counter() - start) * 1000)
    hits = sum(g.asin in engine.search(instruction_keywords(g)) for g in goal_list) / max(1, len(goal_list))
    result = {
        "products": size,
        "generate_s": t1 - t0,
        "index_s": t2 - t1,
        "search_p50_ms": statistics.median(latencies),
        "search_p99_ms": percentile(latencies, 99),
        "target_in_top50": hits,
        "rss_mb": rss_mb(),
        "rss_growth_mb": rss_mb() - base,
    }
    del engine, products, by_asin
    gc.collect()
    return result


def bench_text_env(episodes: int) -> dict:
    from agent_gym.webshop.env_text import WebShopTextEnv

    env = WebShopTextEnv(expert=True)
    steps, rewards = 0, []
    start = time.perf_counter()
    for task_id in env.task_ids[:episodes]:
        obs, info = env.reset(options={"task_id": task_id})
        done = False
        while not done:
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            steps += 1
            done = term or trunc
        rewards.append(reward)
    elapsed = time.perf_counter() - start
    env.close()
    return {
        "episodes": len(rewards),
        "steps_per_s": steps / elapsed,
        "ms_per_step": 1000 * elapsed / steps,
        "expert_success": sum(r == 1.0 for r in rewards) / len(rewards),
        "rss_mb": rss_mb(),
    }


def bench_browser(episodes: int) -> dict | str:
    from agent_gym.webshop.env_browser import WebShopBrowserEnv, browser_available

    reason = browser_available()
    if reason:
        return f"skipped: {reason}"
    t0 = time.perf_counter()
    env = WebShopBrowserEnv(expert=True)
    started = time.perf_counter() - t0
    steps, t_steps = 0, 0.0
    for task_id in env.task_ids[:episodes]:
        obs, info = env.reset(options={"task_id": task_id})
        done = False
        while not done:
            s = time.perf_counter()
            obs, reward, term, trunc, info = env.step(info["expert_action"])
            t_steps += time.perf_counter() - s
            steps += 1
            done = term or trunc
    t0 = time.perf_counter()
    env.close()
    return {"start_s": started, "s_per_step": t_steps / steps, "steps": steps, "close_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="catalog sizes for the search benchmark")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--episodes", type=int, default=200, help="expert episodes for the text env")
    parser.add_argument("--browser-episodes", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    print(f"start rss {rss_mb():.0f} MB")
    for size in [int(s) for s in args.sizes.split(",") if s]:
        r = bench_search(size, args.queries)
        print(
            f"search {r['products']:>7} products: p50 {r['search_p50_ms']:.2f} ms, p99 {r['search_p99_ms']:.2f} ms, "
            f"target in top 50 {r['target_in_top50']:.0%}; generate {r['generate_s']:.1f} s, index {r['index_s']:.1f} s; "
            f"rss {r['rss_mb']:.0f} MB (+{r['rss_growth_mb']:.0f} MB)",
            flush=True,
        )
    r = bench_text_env(args.episodes) if args.episodes > 0 else None
    if r is not None:
        print(
            f"text env: {r['steps_per_s']:.0f} steps/s ({r['ms_per_step']:.2f} ms/step) over {r['episodes']} expert episodes, "
            f"expert success {r['expert_success']:.1%}, rss {r['rss_mb']:.0f} MB",
            flush=True,
        )
    if not args.no_browser:
        r = bench_browser(args.browser_episodes)
        if isinstance(r, str):
            print(f"browser env: {r}")
        else:
            print(
                f"browser env: {r['s_per_step']:.3f} s/step over {r['steps']} steps; start {r['start_s']:.1f} s, close {r['close_s']:.1f} s"
            )
    print(f"peak-ish rss now {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
