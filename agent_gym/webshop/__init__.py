"""WebShop: a shop with search, item pages and WebShop's purchase reward, as text and browser envs.

Env ids ``WebShop-Text-v0`` (:class:`~agent_gym.webshop.env_text.WebShopTextEnv`) and
``WebShop-Browser-v0`` (:class:`~agent_gym.webshop.env_browser.WebShopBrowserEnv`).
Modules import their optional dependencies (flask, bm25s, rapidfuzz, selenium) lazily
through the env modules, so importing this package is cheap.
"""
