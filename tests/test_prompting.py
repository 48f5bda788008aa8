"""The prompt renderer and the action parser (wrappers.prompting)."""

from __future__ import annotations

import pytest

from wrappers.prompting import (
    PromptConfig,
    format_example,
    format_response,
    instruction,
    invalid_output_observation,
    parse_action,
    render_messages,
)

ALF = "ALFWorld-Text-v0"
SQL = "InterCodeSQL-v0"
SHOP = "WebShop-Text-v0"


@pytest.mark.parametrize(
    "text, action",
    [
        ("Thought: I need a mug.\nAction: go to cabinet 1", "go to cabinet 1"),
        ("Action: take mug 1 from countertop 1.", "take mug 1 from countertop 1"),
        ("think first\nACTION:  open drawer 2  \nObservation: ...", "open drawer 2"),
        ("Thought: a\nAction: go to shelf 1\nThought: b\nAction: look", "look"),
        ("**Action:** `inventory`", "inventory"),
        ("Action:\n  examine desk 1", "examine desk 1"),
    ],
)
def test_parse_react_actions(text, action):
    parsed = parse_action(ALF, text)
    assert parsed.valid and parsed.action == action and parsed.error is None


def test_parse_keeps_webshop_brackets_and_thought():
    p = parse_action(SHOP, "Thought: search first.\nAction: search[red shirt, size 4.5]")
    assert p.action == "search[red shirt, size 4.5]" and p.thought == "search first."
    assert parse_action(SHOP, "Action: click[Buy Now]").action == "click[Buy Now]"


@pytest.mark.parametrize("text", ["", "I will go to the cabinet.", "Thought: hmm\nAction:   ", "Action:"])
def test_unparseable_react_output_is_an_error_not_a_crash(text):
    p = parse_action(ALF, text)
    assert p.action is None and not p.valid and p.error


def test_parse_sql_block_submit_and_errors():
    text = "Thought: count them\nAction: ```sql\nSELECT count(*)\nFROM singer;\n```"
    assert parse_action(SQL, text).action == "SELECT count(*)\nFROM singer;"
    assert parse_action(SQL, "```SQL\nSHOW TABLES\n```").action == "SHOW TABLES"
    assert parse_action(SQL, "Thought: done\nAction: submit").action == "submit"
    assert parse_action(SQL, "Action: SELECT 1").action == "SELECT 1"
    assert "not closed" in parse_action(SQL, "Action: ```sql\nSELECT * FROM t").error
    assert "empty" in parse_action(SQL, "Action: ```sql\n\n```").error
    assert parse_action(SQL, "I don't know").action is None
    # two blocks: the last one is the action
    assert parse_action(SQL, "```sql\nA\n```\nAction: ```sql\nB\n```").action == "B"


@pytest.mark.parametrize(
    "env_id, action",
    [
        (ALF, "move mug 1 to coffeemachine 1"),
        (SHOP, "click[b0123]"),
        (SQL, "SELECT name FROM t WHERE x = 'a'"),
        (SQL, "submit"),
        ("AnyOther-v0", "go right"),
    ],
)
def test_format_response_round_trips(env_id, action):
    text = format_response(env_id, action)
    assert text.startswith("Thought: ")
    assert parse_action(env_id, text).action == action


def test_instructions_per_env():
    assert "ALFWorld" in instruction(ALF)
    assert "search[" in instruction(SHOP) and "click[" in instruction("WebShop-Browser-v0")
    assert "```sql" in instruction(SQL) and "submit" in instruction(SQL)
    assert "Action:" in instruction("Something-v0")


def test_render_messages_full_and_windowed():
    obs = [f"obs{i}" for i in range(6)]
    resp = [f"Thought: t{i}\nAction: a{i}" for i in range(5)]
    full = render_messages(ALF, obs, resp, PromptConfig(history_window=None))
    assert [m["role"] for m in full] == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert full[1]["content"] == "obs0" and full[-1]["content"] == "obs5" and full[2]["content"] == resp[0]
    win = render_messages(ALF, obs, resp, PromptConfig(history_window=2))
    assert [m["role"] for m in win] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert win[1]["content"].startswith("obs0") and win[1]["content"] == "obs0\n\n[earlier steps omitted]\n\nobs3"
    assert win[1]["content"].endswith("obs3") and win[2]["content"] == resp[3] and win[-1]["content"] == "obs5"
    zero = render_messages(ALF, obs, resp, PromptConfig(history_window=0))
    assert len(zero) == 2 and zero[1]["content"].endswith("obs5")
    # windows never change the prefix of a short episode
    assert render_messages(ALF, obs[:2], resp[:1], PromptConfig(history_window=2)) == full[:4]
    with pytest.raises(ValueError, match="one more observation"):
        render_messages(ALF, obs, resp[:2])


def test_one_shot_and_clipping_in_system_message():
    example = format_example(ALF, ["start", "You open it."], ["Thought: x\nAction: open drawer 1"])
    assert example.startswith("Observation: start") and "Action: open drawer 1" in example
    msgs = render_messages(ALF, ["o" * 50], [], PromptConfig(one_shot=example, max_observation_chars=10))
    assert example in msgs[0]["content"]
    assert msgs[1]["content"].startswith("o" * 10) and "truncated: 40 more" in msgs[1]["content"]
    cfg = PromptConfig(history_window=3, one_shot="x")
    assert PromptConfig.from_dict(cfg.to_dict()) == cfg


def test_invalid_output_observation_is_clear():
    text = invalid_output_observation(SQL, parse_action(SQL, "nothing"))
    assert "no action was taken" in text and "```sql" in text
    assert "Action: <one action>" in invalid_output_observation(ALF, parse_action(ALF, "x"))


def test_alfworld_banner_is_stripped_in_prompts_not_in_records():
    from wrappers.prompting import clean_observation

    first = (
        "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room.\n\nYour task is to: put a mug in sink."
    )
    msgs = render_messages(ALF, [first], [])
    assert msgs[1]["content"] == "You are in the middle of a room.\n\nYour task is to: put a mug in sink."
    assert clean_observation("WebShop-Text-v0", first) == first  # other envs untouched
    assert "Welcome to TextWorld" not in format_example(ALF, [first, "ok"], ["Thought: t\nAction: look"])


def test_stop_sequences_per_family_and_prompt_variant():
    from wrappers.prompting import prompt_variant, stop_sequences

    for env_id in (ALF, "WebShop-Text-v0", "InterCodeSQL-v0", "X-v0"):
        stops = stop_sequences(env_id)
        assert "\nObservation" in stops
        ok = format_response(env_id, "look" if env_id != "InterCodeSQL-v0" else "SELECT 1")
        assert not any(s in ok for s in stops)  # a well-formed output is never cut
        tail = ok + "\nObservation: the model goes on"
        cut = min(tail.find(s) for s in stops if s in tail)
        assert parse_action(env_id, tail[:cut]).action == parse_action(env_id, ok).action
    assert prompt_variant(ALF, PromptConfig(history_window=4)) == "alfworld v2, Thought/Action, zero-shot, history 4"
    assert "one-shot" in prompt_variant(ALF, PromptConfig(one_shot="x", history_window=None))


def test_one_shot_thoughts_reason_about_the_task(alfworld_data_root):
    from trainers.rollout import expert_example

    text = expert_example(ALF, {"data_dir": str(alfworld_data_root), "split": "valid_seen"}, 0)
    assert "The next step is" not in text and "Welcome to TextWorld" not in text
    assert "The task is to look at alarmclock under the desklamp" in text and "so I take it" in text
    ws = expert_example("WebShop-Text-v0", {}, 0)
    assert "I search with the main words" in ws and "looks like the best match" in ws
    sql = expert_example("InterCodeSQL-v0", {}, 0)
    assert 'The question is "How many books are in the library?"' in sql and "so I submit it" in sql
