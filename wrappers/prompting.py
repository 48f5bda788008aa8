"""The one prompt renderer and action parser of the project.

* :func:`render_messages` turns an episode (observations shown so far and the
  policy's raw outputs) into chat messages: a system message with the
  environment's ReAct instructions (and an optional one-shot example), the
  first observation (it states the task), the last ``history_window`` turns,
  and the current observation. Rollouts build prompts with it and trainers
  rebuild training conversations with it, so both see the same text.
* :func:`parse_action` extracts the action from a raw output:
  ``Thought: ...\\nAction: <action>`` (ALFWorld, WebShop, any other env), and
  for InterCode-SQL a fenced ```sql block or ``Action: submit``.
* :func:`format_response` writes an action in that format (the oracle uses it,
  so expert demonstrations look like what the parser reads).

Instruction texts live in ``assets/prompts/<name>.txt``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any, Mapping, Sequence

from agent_gym.paths import asset_path

PROMPT_DIR = asset_path("prompts")

#: env id -> prompt family (``assets/prompts/<family>.txt``); others use "generic".
PROMPT_FAMILY: dict[str, str] = {
    "ALFWorld-Text-v0": "alfworld",
    "InterCodeSQL-v0": "sql",
    "WebShop-Text-v0": "webshop",
    "WebShop-Browser-v0": "webshop",
}

OMITTED_NOTE = "[{n} earlier step(s) omitted]"


def family(env_id: str) -> str:
    """Prompt family of an env id: ``alfworld``, ``sql``, ``webshop`` or ``generic``."""
    return PROMPT_FAMILY.get(env_id, "generic")


@lru_cache(maxsize=None)
def _read_prompt(name: str) -> str:
    path = PROMPT_DIR / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"prompt file {path} is missing; agent-gym's assets/prompts folder is incomplete (reinstall the package)")
    return path.read_text(encoding="utf-8").strip()


def instruction(env_id: str) -> str:
    """The ReAct instruction text for ``env_id``."""
    return _read_prompt(family(env_id))


@dataclass(frozen=True)
class PromptConfig:
    """How prompts are rendered.

    Attributes:
        history_window: completed turns kept before the current observation
            (``None``: all). HGPO uses the same number as its grouping depth K.
            The first observation (the task) is always kept.
        one_shot: an example text appended to the system message (see
            :func:`format_example`), or ``None``.
        max_observation_chars: longer observations are cut (head kept) with a marker.
        instruction: replaces the env's instruction text when set.
    """

    history_window: int | None = 4
    one_shot: str | None = None
    max_observation_chars: int | None = 6000
    instruction: str | None = None

    def __post_init__(self) -> None:
        if self.history_window is not None and self.history_window < 0:
            raise ValueError(f"history_window must be >= 0 or None, got {self.history_window}")

    def replace(self, **changes: Any) -> "PromptConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "PromptConfig":
        d = dict(d or {})
        known = {k: d[k] for k in ("history_window", "one_shot", "max_observation_chars", "instruction") if k in d}
        return cls(**known)


def system_message(env_id: str, config: PromptConfig | None = None) -> str:
    cfg = config or PromptConfig()
    text = cfg.instruction if cfg.instruction is not None else instruction(env_id)
    if cfg.one_shot:
        text += "\n\nHere is an example.\n\n" + cfg.one_shot.strip()
    return text


def _clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"\n[observation truncated: {len(text) - limit} more characters]"


def render_messages(
    env_id: str,
    observations: Sequence[str],
    responses: Sequence[str],
    config: PromptConfig | None = None,
) -> list[dict[str, str]]:
    """Chat messages for the next step of an episode.

    Args:
        env_id: selects the instruction text.
        observations: every observation shown so far (one more than ``responses``).
        responses: the policy's raw outputs so far (assistant messages).
        config: history window, one-shot example, observation length limit.

    Returns:
        ``[system, user(obs_0), assistant(resp_0), ..., user(obs_t)]``, alternating.
        When older turns fall outside the window, the first user message is
        ``obs_0``, a note saying how many steps were omitted, then the oldest
        kept observation.
    """
    cfg = config or PromptConfig()
    if len(observations) != len(responses) + 1:
        raise ValueError(
            f"need one more observation than responses, got {len(observations)} observations and {len(responses)} responses"
        )
    obs = [_clip(o, cfg.max_observation_chars) for o in observations]
    t = len(responses)
    w = t if cfg.history_window is None else min(cfg.history_window, t)
    first_kept = t - w
    msgs = [{"role": "system", "content": system_message(env_id, cfg)}]
    if first_kept == 0:
        msgs.append({"role": "user", "content": obs[0]})
    else:
        note = OMITTED_NOTE.format(n=first_kept)
        msgs.append({"role": "user", "content": f"{obs[0]}\n\n{note}\n\n{obs[first_kept]}"})
    for i in range(first_kept, t):
        msgs.append({"role": "assistant", "content": responses[i]})
        msgs.append({"role": "user", "content": obs[i + 1]})
    return msgs


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParsedAction:
    """Result of :func:`parse_action`: ``action`` is ``None`` exactly when ``error`` says why."""

    action: str | None
    thought: str | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.action is not None


_ACTION_RE = re.compile(r"(?im)^[ \t*#>]*action[ \t*]*:[ \t*]*")
_THOUGHT_RE = re.compile(r"(?is)thought[ \t*]*:[ \t]*(.*?)(?=^[ \t*#>]*action[ \t*]*:|\Z)", re.M)
_FENCE_RE = re.compile(r"```[ \t]*(sql|mysql)?[ \t]*\n?(.*?)```", re.S | re.I)


def _thought(text: str) -> str | None:
    m = _THOUGHT_RE.search(text)
    return m.group(1).strip() if m else None


def _clean_action(line: str) -> str:
    a = line.strip()
    if len(a) >= 2 and a[0] == a[-1] and a[0] in "`'\"":
        a = a[1:-1].strip()
    return a.rstrip(".").strip() if not a.endswith("]") else a


def parse_action(env_id: str, text: str) -> ParsedAction:
    """Extract the action from a raw model output (never raises on bad text).

    ALFWorld, WebShop and other envs: the first line after the last
    ``Action:`` (quotes, backticks and a trailing period removed).
    InterCode-SQL: the last fenced ```sql block (``Action:`` optional), or
    ``Action: submit``, or a one-line query after ``Action:``.
    """
    if not isinstance(text, str):
        return ParsedAction(None, None, f"output is not text ({type(text).__name__})")
    thought = _thought(text)
    if family(env_id) == "sql":
        return _parse_sql(text, thought)
    matches = list(_ACTION_RE.finditer(text))
    if not matches:
        return ParsedAction(None, thought, "no 'Action:' line found")
    rest = text[matches[-1].end() :]
    line = next((ln for ln in rest.split("\n") if ln.strip()), "")
    action = _clean_action(line)
    if not action:
        return ParsedAction(None, thought, "the 'Action:' line is empty")
    return ParsedAction(action, thought, None)


def _parse_sql(text: str, thought: str | None) -> ParsedAction:
    blocks = _FENCE_RE.findall(text)
    if blocks:
        query = blocks[-1][1].strip()
        if not query:
            return ParsedAction(None, thought, "the ```sql block is empty")
        return ParsedAction(query, thought, None)
    matches = list(_ACTION_RE.finditer(text))
    if matches:
        rest = text[matches[-1].end() :].strip()
        if rest.startswith("```"):
            return ParsedAction(None, thought, "the ```sql block is not closed with ```")
        line = _clean_action(rest.split("\n", 1)[0]) if rest else ""
        if line.lower().rstrip(";") == "submit":
            return ParsedAction("submit", thought, None)
        if line:
            return ParsedAction(line, thought, None)
        return ParsedAction(None, thought, "the 'Action:' line is empty")
    if "```" in text:
        return ParsedAction(None, thought, "the ```sql block is not closed with ```")
    return ParsedAction(None, thought, "no ```sql block and no 'Action: submit' found")


def invalid_output_observation(env_id: str, parsed: ParsedAction) -> str:
    """The observation shown after an unparseable output (the env is not stepped)."""
    if family(env_id) == "sql":
        fmt = "Thought: <your reasoning>\nAction: ```sql\n<one SQL query>\n```\n(or 'Action: submit' when the last result answers the question)"
    else:
        fmt = "Thought: <your reasoning>\nAction: <one action>"
    return f"Invalid output ({parsed.error}); no action was taken. Reply exactly in this format:\n{fmt}"


# ---------------------------------------------------------------------------- formatting


def default_thought(env_id: str, action: str) -> str:
    """A short generic thought for scripted (oracle) actions."""
    fam = family(env_id)
    if fam == "sql":
        if action.strip().lower() == "submit":
            return "The last result answers the question, so I submit it."
        return "I will query the database to answer the question."
    if fam == "webshop":
        if action.startswith("search["):
            return "I should search for a product that matches the instruction."
        return f"I should {action.replace('[', ' ').rstrip(']')} next."
    return f"The next step is: {action}."


def format_response(env_id: str, action: str, thought: str | None = None) -> str:
    """A raw output in the format :func:`parse_action` reads (round-trips exactly)."""
    th = default_thought(env_id, action) if thought is None else thought
    if family(env_id) == "sql" and action.strip().lower() != "submit":
        return f"Thought: {th}\nAction: ```sql\n{action.strip()}\n```"
    return f"Thought: {th}\nAction: {action}"


def format_example(env_id: str, observations: Sequence[str], responses: Sequence[str], max_chars: int = 4000) -> str:
    """A one-shot example text from an (expert) trajectory: alternating observations and outputs."""
    parts: list[str] = []
    for i, resp in enumerate(responses):
        parts.append(f"Observation: {observations[i].strip()}")
        parts.append(resp.strip())
    if len(observations) > len(responses):
        parts.append(f"Observation: {observations[len(responses)].strip()}")
    text = "\n".join(parts)
    if len(text) > max_chars:
        text = text[:max_chars] + "\n[example truncated]"
    return text


__all__ = [
    "PROMPT_FAMILY",
    "ParsedAction",
    "PromptConfig",
    "default_thought",
    "family",
    "format_example",
    "format_response",
    "instruction",
    "invalid_output_observation",
    "parse_action",
    "render_messages",
    "system_message",
]
