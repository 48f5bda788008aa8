"""InterCodeSQL-v0 speed per backend: env start, reset, query round trip, expert episodes/s.

    python -m benchmarks.intercode_sql                      # embedded benchmark, both backends
    python -m benchmarks.intercode_sql --data-dir ../shared/data/intercode --episodes 300

Reset includes the isolation work (MariaDB: ``COM_RESET_CONNECTION`` + ``USE``;
SQLite: switching to the read-only database file). Target: reset <= 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

from agent_gym.sql.env import InterCodeSQLEnv
from agent_gym.sql.server import mariadb_available


def _ms(samples: list[float]) -> str:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, int(0.95 * len(s)))]
    return f"mean {statistics.fmean(s) * 1e3:7.3f} ms  p50 {s[len(s) // 2] * 1e3:7.3f} ms  p95 {p95 * 1e3:7.3f} ms"


def bench(backend: str, data_dir: str | None, episodes: int, repeats: int) -> None:
    t0 = time.perf_counter()
    env = InterCodeSQLEnv(data_dir=data_dir, backend=backend, expert=True)
    start_s = time.perf_counter() - t0
    n = len(env.task_ids)
    resets: list[float] = []
    for i in range(repeats):
        t = time.perf_counter()
        env.reset(options={"task_id": i % n})
        resets.append(time.perf_counter() - t)
    env.reset(options={"task_id": 0})
    trips: list[float] = []
    for _ in range(repeats):
        t = time.perf_counter()
        env.step("SELECT 1")
        trips.append(time.perf_counter() - t)
        if env._done:
            env.reset(options={"task_id": 0})
    golds: list[float] = []
    t = time.perf_counter()
    solved = 0
    for i in range(episodes):
        _, info = env.reset(options={"task_id": i % n})
        tg = time.perf_counter()
        env.step(info["expert_action"])
        golds.append(time.perf_counter() - tg)
        solved += env.step("submit")[1] == 1.0
    eps = episodes / (time.perf_counter() - t)
    print(f"[{backend}] tasks {n}, env start {start_s:.2f} s (server/template and gold caches warm or cold)")
    print(f"[{backend}] reset              {_ms(resets)}")
    print(f"[{backend}] 'SELECT 1' step    {_ms(trips)}")
    print(f"[{backend}] gold query step    {_ms(golds)}")
    print(
        f"[{backend}] expert episodes/s  {eps:8.1f}  ({solved}/{episodes} scored 1.0; first submit per task runs the gold query)"
    )
    env.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--backend", choices=["mysql", "sqlite", "both"], default="both")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--repeats", type=int, default=300)
    args = p.parse_args()
    backends = ["mysql", "sqlite"] if args.backend == "both" else [args.backend]
    for b in backends:
        if b == "mysql" and not mariadb_available():
            print("[mysql] skipped: mariadbd not installed")
            continue
        bench(b, args.data_dir, args.episodes, args.repeats)


if __name__ == "__main__":
    main()
