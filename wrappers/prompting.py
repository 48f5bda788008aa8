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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

from agent_gym.paths import asset_path

PROMPT_DIR = asset_path("prompts")

#: env id -> prompt family (``assets/prompts/<family>.txt``); others use "generic".
PROMPT_FAMILY: dict[str, str] = {
    "ALFWorld-Text-v0": "alfworld",
    "InterCodeSQL-v0": "sql",
    "WebShop-Text-v0": "webshop",
    "WebShop-Browser-v0": "webshop",
}

#: Stands for the turns outside the history window. It carries no step count, so a
#: prompt depends only on the first observation and the window: an exact repeat of
#: a prompt under greedy decoding repeats the output (``trainers.rollout`` reuses it).
OMITTED_NOTE = "[earlier steps omitted]"

#: Version of the prompt texts and rendering, named in evaluation reports.
PROMPT_VERSION = 2

#: Stop strings per prompt family: generation ends where the model starts a turn
#: the environment should write (the text is cut before them). The Action line
#: itself cannot be a stop string (it follows the thought with a newline), and
#: the SQL block's closing fence cannot either (the cut would remove it).
STOP_SEQUENCES: dict[str, tuple[str, ...]] = {
    "alfworld": ("\nObservation", "\nThought:"),
    "webshop": ("\nObservation", "\nThought:"),
    "sql": ("\nObservation", "\nThought:"),
    "generic": ("\nObservation", "\nThought:"),
}

_ALFWORLD_BANNER = re.compile(r"\A\s*-= Welcome to TextWorld, ALFRED! =-\s*")


def family(env_id: str) -> str:
    """Prompt family of an env id: ``alfworld``, ``sql``, ``webshop`` or ``generic``."""
    return PROMPT_FAMILY.get(env_id, "generic")


@cache
def _read_prompt(name: str) -> str:
    path = PROMPT_DIR / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(
            f"prompt file {path} is missing; agent-gym's assets/prompts folder is incomplete (reinstall the package)"
        )
    return path.read_text(encoding="utf-8").strip()


def stop_sequences(env_id: str) -> tuple[str, ...]:
    """The default stop strings of ``env_id``'s prompt family (see :data:`STOP_SEQUENCES`)."""
    return STOP_SEQUENCES[family(env_id)]


def clean_observation(env_id: str, text: str) -> str:
    """An observation as prompts show it: ALFWorld's ``-= Welcome to TextWorld, ALFRED! =-``
    banner is removed (as ETO and IPR do); records keep the env's text unchanged."""
    if family(env_id) == "alfworld":
        return _ALFWORLD_BANNER.sub("", text, count=1)
    return text


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

    def replace(self, **changes: Any) -> PromptConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> PromptConfig:
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
        ``obs_0``, the note :data:`OMITTED_NOTE`, then the oldest kept
        observation. Observations pass through :func:`clean_observation`.
    """
    cfg = config or PromptConfig()
    if len(observations) != len(responses) + 1:
        raise ValueError(
            f"need one more observation than responses, got {len(observations)} observations and {len(responses)} responses"
        )
    obs = [_clip(clean_observation(env_id, o), cfg.max_observation_chars) for o in observations]
    t = len(responses)
    w = t if cfg.history_window is None else min(cfg.history_window, t)
    first_kept = t - w
    msgs = [{"role": "system", "content": system_message(env_id, cfg)}]
    if first_kept == 0:
        msgs.append({"role": "user", "content": obs[0]})
    else:
        msgs.append({"role": "user", "content": f"{obs[0]}\n\n{OMITTED_NOTE}\n\n{obs[first_kept]}"})
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


def prompt_variant(env_id: str, config: PromptConfig | None = None) -> str:
    """A one-line name of the prompt a run used, for reports.

    E.g. ``"alfworld v2, Thought/Action, one-shot, history 4"``.
    """
    cfg = config or PromptConfig()
    parts = [f"{family(env_id)} v{PROMPT_VERSION}", "Thought/Action"]
    parts.append("custom instruction" if cfg.instruction is not None else "")
    parts.append("one-shot" if cfg.one_shot else "zero-shot")
    parts.append("full history" if cfg.history_window is None else f"history {cfg.history_window}")
    return ", ".join(p for p in parts if p)


_ALF_TASK = re.compile(r"Your task is to:\s*(.+?)\.?\s*$", re.M)
_ALF_OBJECT = re.compile(
    r"(?:put (?:a|an|some|two) (?:clean |hot |cool )?|look at |examine (?:the |a |an )?|find (?:a |an |some |two )?)([a-z]+)"
)
_ALF_VERBS = {"heat": "hot", "cool": "cool", "clean": "clean", "slice": "sliced"}


def _alfworld_thought(task: str, observation: str, action: str, holding: str | None) -> str:
    words = action.split()
    verb = words[0] if words else ""
    m = _ALF_OBJECT.search(task)
    target = m.group(1) if m else "object"
    if verb == "go" and action.startswith("go to "):
        place = action[6:]
        if holding:
            return f"I have the {holding}. The task is to {task}, so I go to {place} next."
        return (
            f"The task is to {task}. First I need to find a {target}. I have not seen one yet, "
            f"and {place} is a place where it could be, so I go there to check."
        )
    if verb == "open":
        return f"{action[5:].capitalize()} is closed. I open it to see whether a {target} is inside."
    if verb == "close":
        return f"I am done with {action[6:]}; I close it."
    if verb == "take" and " from " in action:
        obj, place = action[5:].split(" from ", 1)
        return f"There is a {obj} at {place}. The task needs a {target}, so I take it."
    if verb in _ALF_VERBS and " with " in action:
        obj, tool = action[len(verb) + 1 :].split(" with ", 1)
        return (
            f"The task needs the {target} to be {_ALF_VERBS[verb]}. I am at the {tool}, so I {verb} the {obj} with it."
        )
    if verb in ("move", "put"):
        rest = action[len(verb) + 1 :]
        obj, _, place = (
            rest.replace(" in/on ", " to ").replace(" in ", " to ").replace(" on ", " to ").partition(" to ")
        )
        return f"I hold the {obj} and I am at {place}. I put it there, as the task asks: {task}."
    if verb == "use":
        return f"I hold the {holding or target} and there is a {action[4:]} here. I turn it on to look at the {target} in its light."
    if verb == "examine":
        return f"I examine {action[8:]} to see it closely, as the task asks."
    return f"The task is to {task}. Next I {action}."


_WS_PRICE = re.compile(r"price lower than ([0-9.]+) dollars")


def _webshop_thought(instruction_text: str, observation: str, action: str) -> str:
    low = action.lower()
    m = _WS_PRICE.search(instruction_text)
    budget = f" and cost less than ${m.group(1)}" if m else ""
    if low.startswith("search["):
        return f"I must find: {instruction_text}. I search with the main words of the instruction."
    arg = action[action.find("[") + 1 : action.rfind("]")] if "[" in action else action
    if low == "click[buy now]":
        return "The product and the options I selected match the instruction, so I buy it."
    seps = [x.strip() for x in observation.split("[SEP]")]
    upper = [x.upper() for x in seps]
    if arg.upper() in upper and arg.upper() == arg.upper().strip() and len(arg) == 10 and arg.isalnum():
        i = upper.index(arg.upper())
        title = seps[i + 1] if i + 1 < len(seps) else ""
        price = seps[i + 2] if i + 2 < len(seps) else ""
        return (
            f"The item must match the instruction{budget}. {arg.upper()} ({title}, {price}) looks like the best match "
            "in these results, so I open it."
        )
    if arg.lower() in ("next >", "< prev", "back to search"):
        return f"Nothing here matches the instruction well enough, so I click {arg}."
    return f"The instruction asks for {arg}, which is an option of this product, so I select it."


def _sql_thought(first_observation: str, observation: str, action: str) -> str:
    question = first_observation.strip().split("\n")[0]
    if action.strip().lower() == "submit":
        return f'The last result answers the question "{question}", so I submit it.'
    db = re.search(r"Database:\s*(\S+)", first_observation)
    where = f" of the {db.group(1)} database" if db else ""
    return f'The question is "{question}". I write one query over the tables{where} that computes exactly what it asks.'


def reasoned_thought(env_id: str, observations: Sequence[str], actions: Sequence[str], t: int) -> str:
    """A thought that explains action ``t`` of an (expert) trajectory from what was seen so far.

    Used for one-shot examples (:func:`trainers.rollout.expert_example`): the
    oracle's own thoughts are generic ("The next step is: ..."); these say why
    the action follows from the task and the observation.
    """
    fam = family(env_id)
    first = clean_observation(env_id, observations[0]) if observations else ""
    obs = clean_observation(env_id, observations[t]) if t < len(observations) else ""
    action = actions[t]
    if fam == "alfworld":
        m = _ALF_TASK.search(first)
        task = m.group(1).strip() if m else "complete the task"
        holding = None
        for a in actions[:t]:
            if a.startswith("take ") and " from " in a:
                holding = a[5:].split(" from ", 1)[0]
            elif a.startswith(("move ", "put ")):
                holding = None
        return _alfworld_thought(task, obs, action, holding)
    if fam == "webshop":
        m = re.search(r"Instruction:\s*(?:\[SEP\])?\s*(.+?)\s*(?:\[SEP\]|$)", first)
        return _webshop_thought(m.group(1) if m else "the product in the instruction", obs, action)
    if fam == "sql":
        return _sql_thought(first, obs, action)
    return default_thought(env_id, action)


def format_example(env_id: str, observations: Sequence[str], responses: Sequence[str], max_chars: int = 4000) -> str:
    """A one-shot example text from an (expert) trajectory: alternating observations and outputs."""
    parts: list[str] = []
    observations = [clean_observation(env_id, o) for o in observations]
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
    "OMITTED_NOTE",
    "PROMPT_FAMILY",
    "PROMPT_VERSION",
    "STOP_SEQUENCES",
    "clean_observation",
    "prompt_variant",
    "reasoned_thought",
    "stop_sequences",
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
