"""Hierarchical Preference Learning (HPL) with SFT, RFT, ETO and IPR baselines.

Entry points: ``python -m scripts.hpl --config CONFIG`` or::

    from trainers.hpl import load_config, run_pipeline
    run_pipeline(load_config("assets/configs/hpl_tiny.yaml", ["method=eto"]))

Modules: ``config`` (YAML config), ``methods`` (the method switch), ``demonstrations``
(D_expert), ``exploration`` (trajectory/step/group pairs with Monte-Carlo rewards),
``segmenters``, ``curriculum``, ``losses``, ``train`` (SFT and the composite objective),
``pipeline`` (resumable stages). See docs/hpl.md.
"""

from trainers.hpl.config import HPLConfig, load_config
from trainers.hpl.methods import METHODS, get_method
from trainers.hpl.pipeline import run_pipeline

__all__ = ["HPLConfig", "METHODS", "get_method", "load_config", "run_pipeline"]
