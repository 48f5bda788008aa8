"""agent-gym's data files: ReAct prompts, run configs and the small SQL benchmark.

This folder is installed as the package ``agent_gym_assets``; code finds the files
through :mod:`agent_gym.paths`, never by a path relative to a module.
"""
