"""OpenAI-compatible HTTP backend (``/v1/chat/completions``): a teacher or segmenter served anywhere.

Works with ``vllm serve``, llama.cpp's server, OpenAI itself, etc. Uses only
the standard library; requests for a batch run in a small thread pool.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from agent_gym.errors import BackendUnavailableError
from trainers.policies.base import Conversation, Generation, GenerationParams, Policy, check_conversations


class OpenAICompatPolicy(Policy):
    """Chat completions from an OpenAI-compatible server.

    Args:
        model: the served model name.
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (default ``$OPENAI_BASE_URL`` or OpenAI's).
        api_key: default ``$OPENAI_API_KEY`` (servers that need none accept anything).
        timeout: seconds per request.
        max_retries: retries on connection errors and 429/5xx answers (exponential backoff).
        concurrency: parallel requests per batch.
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
    ):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = max(1, int(concurrency))

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model": self.model, "base_url": self.base_url}

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/chat/completions"
        data = json.dumps(payload).encode("utf-8")
        last: Exception | None = None
        for attempt in range(self.max_retries + 1):
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
                else:
                    raise BackendUnavailableError(
                        f"{url} rejected the request with HTTP {exc.code}: {body} (check the model name and API key)"
                    ) from exc
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = exc
            if attempt < self.max_retries:
                time.sleep(min(0.5 * 2**attempt, 8.0))
        raise BackendUnavailableError(
            f"cannot reach the OpenAI-compatible server at {self.base_url} after {self.max_retries + 1} tries: {last}. "
            "Is the server running (e.g. `vllm serve MODEL`) and is --base-url right?"
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
        gens = []
        for ch in sorted(choices, key=lambda c: c.get("index", 0)):
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
                )
            )
        return gens

    def generate(self, conversations: Sequence[Conversation], params: GenerationParams | None = None) -> list[list[Generation]]:
        params = params or GenerationParams()
        check_conversations(conversations)
        if len(conversations) == 1:
            return [self._one(conversations[0], params)]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(conversations))) as pool:
            return list(pool.map(lambda c: self._one(c, params), conversations))
