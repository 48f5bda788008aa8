"""InterCode-SQL pieces that need no database: reward, statement checks, dump parsing, task files."""

from __future__ import annotations

import json
import math
import random
from decimal import Decimal

import pytest

from agent_gym.errors import DataNotFoundError, GameLoadError
from agent_gym.sql.backends.base import check_statement
from agent_gym.sql.dump import mariadb_statements, parse_dump, parse_values
from agent_gym.sql.render import render_result
from agent_gym.sql.reward import gold_has_order_by, kendall_tau_b, multiset_iou, score
from agent_gym.sql.sqltext import split_statements
from agent_gym.sql.tasks import load_dataset, load_tasks

GOLD = [("a",), ("b",), ("c",), ("d",)]


# ------------------------------------------------------------------ reward
def test_identical_results_score_one():
    r = score(list(GOLD), GOLD)
    assert (r.reward, r.iou, r.kendall_tau, r.order_scored) == (1.0, 1.0, 1.0, True)


def test_reordered_rows_are_penalised_by_kendall_tau():
    r = score([("b",), ("a",), ("c",), ("d",)], GOLD)
    assert r.iou == 1.0
    assert r.kendall_tau == pytest.approx(2 / 3)
    assert r.reward == 0.67
    # fully reversed: tau = -1, InterCode would give -1.0; we clip at 0 but keep the raw value
    rev = score(list(reversed(GOLD)), GOLD)
    assert rev.raw_reward == -1.0 and rev.reward == 0.0
    assert score(list(reversed(GOLD)), GOLD, clip_negative=False).reward == -1.0


def test_order_can_be_ignored():
    r = score([("b",), ("a",), ("c",), ("d",)], GOLD, order_scored=False)
    assert r.reward == 1.0 and r.kendall_tau is None and not r.order_scored
    assert gold_has_order_by("SELECT a FROM t ORDER  BY a") and not gold_has_order_by("SELECT border FROM t")


def test_partial_overlap_is_intersection_over_union():
    r = score([("a",), ("b",), ("x",)], GOLD)  # inter 2, union 5, shared order agrees
    assert r.iou == pytest.approx(0.4) and r.reward == 0.4


def test_duplicates_count_as_multisets():
    assert multiset_iou(["a", "a", "b"], ["a", "b"]) == pytest.approx(2 / 3)
    assert multiset_iou(["a", "a"], ["a", "a"]) == 1.0
    # a single shared row gives no defined tau: the IoU stands unrounded
    r = score([(1,), (1,), (2,)], [(1,)])
    assert r.kendall_tau is None and r.reward == pytest.approx(1 / 3)


def test_empty_results():
    assert score([], []).reward == 1.0
    assert score([], GOLD).reward == 0.0
    assert score(GOLD, []).reward == 0.0


def test_errors_and_missing_results_score_zero():
    r = score(None, GOLD)
    assert r.reward == 0.0 and r.iou == 0.0


def test_rows_compare_by_printed_form():
    assert score([(Decimal("1.50"),)], [(Decimal("1.50"),)]).reward == 1.0
    assert score([(Decimal("1.5"),)], [(1.5,)]).reward == 0.0  # "Decimal('1.5')" != "1.5", as in InterCode


def test_kendall_tau_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(100):
        n = rng.randint(2, 30)
        pool = [f"({rng.randint(0, 6)},)" for _ in range(n)]
        x = list(pool)
        y = list(pool)
        rng.shuffle(y)
        ours = kendall_tau_b(x, y)
        ref = stats.kendalltau(x, y).statistic
        if math.isnan(ref):
            assert math.isnan(ours)
        else:
            assert ours == pytest.approx(ref, abs=1e-12)


# ------------------------------------------------------------------ statement checks and rendering
def test_split_statements_respects_quotes_and_comments():
    assert split_statements("SELECT 'a;b'; SELECT `c;d` -- x;y\n;") == ["SELECT 'a;b'", "SELECT `c;d` -- x;y"]
    assert split_statements("SELECT 1 /* ; */") == ["SELECT 1 /* ; */"]
    assert split_statements("  ;  -- only a comment\n") == []


@pytest.mark.parametrize(
    "text, problem",
    [
        ("SELECT 1;", None),
        ("SELECT 1; DROP TABLE t", "only one SQL statement"),
        ("SELECT 1;;SELECT 2", "only one SQL statement"),
        ("", "empty statement"),
        ("-- nothing", "empty statement"),
        ("SET SESSION max_statement_time=0", "time limit"),
        ("SET STATEMENT MAX_STATEMENT_TIME=0 FOR SELECT SLEEP(9)", "time limit"),
        ("SELECT '\x00'", "NUL"),
        ("SELECT '\udcff'", "Unicode"),
        ("SELECT " + "1+" * 20000 + "1", "characters long"),
    ],
)
def test_check_statement(text, problem):
    stmt, err = check_statement(text)
    if problem is None:
        assert err is None and stmt == "SELECT 1"
    else:
        assert stmt is None and problem in err


def test_render_like_intercode():
    assert render_result([("people",), ("poker_player",)], None) == "[('people',), ('poker_player',)]"
    assert render_result(None, "Unknown column 'x'") == "Error executing query: Unknown column 'x'"
    long = render_result([(i,) for i in range(1000)], None, max_chars=50)
    assert long.startswith("[(0,), (1,)") and "1000 rows in total" in long and len(long) < 150


# ------------------------------------------------------------------ dump and task files
DUMP = """
CREATE USER 'admin'@'%' IDENTIFIED BY 'admin';
GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%';
CREATE DATABASE IF NOT EXISTS `mysql`;
USE `mysql`;
CREATE TABLE `user` (`x` int);
CREATE DATABASE  IF NOT EXISTS `zoo` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */;
USE `zoo`;
/*!40101 SET NAMES utf8 */;
CREATE TABLE `animal` (
  `id` int NOT NULL,
  `name` text COLLATE utf8mb4_0900_ai_ci,
  `weight` double DEFAULT NULL,
  PRIMARY KEY (`id`,`name`(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci;
LOCK TABLES `animal` WRITE;
INSERT INTO `animal` VALUES (1,'O\\'Hare; the \\"cat\\"',4.5),(2,'it''s',NULL);
UNLOCK TABLES;
"""


def test_dump_adaptation_for_mariadb():
    stmts = mariadb_statements(DUMP)
    text = "\n".join(s for _, s in stmts)
    assert "0900" not in text and "utf8mb4_general_ci" in text
    assert "CREATE USER" not in text and "GRANT" not in text and "LOCK TABLES" not in text
    assert "`user`" not in text  # the mysql system schema is skipped
    assert {db for db, _ in stmts if db} == {"zoo"}


def test_dump_parsing_for_sqlite():
    dbs = parse_dump(DUMP)
    assert list(dbs) == ["zoo"]
    table = dbs["zoo"]["animal"]
    assert [c.name for c in table.columns] == ["id", "name", "weight"]
    assert table.primary_key == ["id", "name"]
    assert table.rows == [(1, 'O\'Hare; the "cat"', 4.5), (2, "it's", None)]
    assert parse_values("(1,-2.5e3,'a\\nb')") == [(1, -2500.0, "a\nb")]


def test_task_files(tmp_path):
    ds = load_dataset(None)
    assert len(ds.tasks) >= 30 and ds.dump_path.name == "dbs.sql"
    assert {t.hardness for t in ds.tasks} == {"easy", "medium", "hard", "extra"}
    with pytest.raises(DataNotFoundError, match="scripts.prepare intercode"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match="ic_spider_dev.json is missing"):
        load_dataset(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"db": "x"}]))
    with pytest.raises(GameLoadError, match="lacks field"):
        load_tasks(bad)
