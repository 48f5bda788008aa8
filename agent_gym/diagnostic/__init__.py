"""Diagnostic environments: tiny, deterministic, engine-free envs for testing trainers (``Corridor-Text-v0``)."""
