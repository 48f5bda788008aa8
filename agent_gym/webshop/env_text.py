"""``WebShop-Text-v0``: the shop driven in-process through Flask's test client (no sockets)."""

from __future__ import annotations

from agent_gym.webshop import render
from agent_gym.webshop.env_base import WebShopEnvBase
from agent_gym.webshop.render import Clickable


class WebShopTextEnv(WebShopEnvBase):
    """WebShop with pages fetched in-process; see :class:`~agent_gym.webshop.env_base.WebShopEnvBase` for arguments."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._client = self.app.test_client()
        self._url = "/"

    def _open(self, url: str) -> str:
        response = self._client.get(url)
        self._url = url
        return response.get_data(as_text=True)

    def _submit_search(self, keywords: str) -> str:
        return self._open(render.url("/search", session=self._session, page=1, q=keywords))

    def _click(self, clickable: Clickable) -> str:
        return self._open(clickable.href or "/")

    def _current_url(self) -> str:
        return self._url
