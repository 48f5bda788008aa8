"""Versioned data files of the WebShop envs (goal splits)."""
