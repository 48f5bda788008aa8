"""One OpenAI-compatible vLLM server shared by many rollout workers, with weight pushes.

The large-setup alternative to an engine per process: the model is served once (data- or
tensor-parallel, on GPUs of its own), every rollout worker sends chat requests to it, and
after each update the trainer pushes the new weights. Start the server with the dev
endpoints on (they are off by default):

    VLLM_SERVER_DEV_MODE=1 python -m vllm.entrypoints.openai.api_server --model DIR \\
        --tensor-parallel-size T --data-parallel-size D --port 8000

A push writes the weights as one safetensors file into a folder the server can read
(``weights_dir``: a shared file system when the server runs elsewhere), then asks every
engine worker to ``reload_weights`` from it (``/collective_rpc``) and drops the prefix
cache (``/reset_prefix_cache``). TRL's ``vllm-serve`` sends the tensors over NCCL instead;
the file route needs no GPU and no extra port, at the price of a disk round trip.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from typing import Any

from agent_gym.errors import BackendUnavailableError
from trainers.policies.openai_compat import OpenAICompatPolicy


class VLLMServerPolicy(OpenAICompatPolicy):
    """Chat completions from a shared vLLM server (``base_url`` like ``http://host:8000/v1``).

    Args:
        base_url: the server's OpenAI API root.
        model: the served model name (default: the first one ``/v1/models`` lists).
        weights_dir: where pushed weights are written (a folder the server can read; default:
            the system's temporary folder, right when the server runs on this machine).
        **kwargs: :class:`OpenAICompatPolicy` options (``timeout``, ``concurrency``, ...).
    """

    name = "vllm_server"

    def __init__(
        self, base_url: str, model: str | None = None, *, weights_dir: str | os.PathLike | None = None, **kwargs: Any
    ):
        base = base_url.rstrip("/")
        self.root = base[: -len("/v1")] if base.endswith("/v1") else base
        super().__init__(
            model or self._served_model(base), base_url=base, api_key=kwargs.pop("api_key", "EMPTY"), **kwargs
        )
        self.weights_dir = str(weights_dir) if weights_dir is not None else None

    def _request(self, url: str, payload: dict[str, Any] | None = None, timeout: float = 600.0) -> bytes:
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json"}, method="GET" if payload is None else "POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:300]
            hint = " (start the server with VLLM_SERVER_DEV_MODE=1 for weight pushes)" if exc.code == 404 else ""
            raise BackendUnavailableError(f"{url} answered HTTP {exc.code}: {body}{hint}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            raise BackendUnavailableError(f"cannot reach the vLLM server at {url}: {exc}. Is it running?") from None

    def _served_model(self, base: str) -> str:
        models = json.loads(self._request(f"{base}/models", timeout=30.0)).get("data") or []
        if not models:
            raise BackendUnavailableError(f"{base}/models lists no model")
        return str(models[0]["id"])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "backend": self.name}

    def load_weights(self, model_or_path: Any) -> None:
        """Push new weights (a module or a checkpoint folder) into every engine of the server."""
        from trainers.policies.vllm import write_weights

        folder = tempfile.mkdtemp(prefix="agent_gym_push_", dir=self.weights_dir)
        try:
            write_weights(model_or_path, folder)
            os.chmod(folder, 0o755)  # the server may run as another user
            self._request(
                f"{self.root}/collective_rpc", {"method": "reload_weights", "kwargs": {"weights_path": folder}}
            )
            self._request(f"{self.root}/reset_prefix_cache", {})
        finally:
            shutil.rmtree(folder, ignore_errors=True)
