"""The ``method`` switch: which data each method builds and which loss terms it trains on.

=====================  ==========================  ==============================  ===========
method                 exploration levels          loss terms (weights)            curriculum
=====================  ==========================  ==============================  ===========
sft                    none                        BC on D_expert (= pi_ref)       -
rft                    traj (pi_ref's successes)   BC on D_expert + successes      -
eto                    traj                        BC + traj-DPO                   -
ipr                    traj, step                  BC + traj-DPO + step-DPO        -
hpl                    traj, step, group           BC + traj + step + group-DPO    dual
hpl_fixed_n/_fixed_k/  same as hpl, with that segmenter
_uncertainty/_semantic
hpl_no_traj/_no_step/  hpl without that DPO level
_no_group
hpl_static/_length/    hpl with that curriculum (static: all buckets at once)
_difficulty
=====================  ==========================  ==============================  ===========

ETO and IPR keep the BC term like the composite objective does (the original
IPR also adds an SFT term); set ``dpo.weights.bc: 0`` for pure DPO.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class MethodSpec:
    """What a method needs. ``weights`` are the loss-term weights; 0 drops the term and its data."""

    name: str
    kind: str  # "sft", "rft" or "preference"
    levels: tuple[str, ...] = ()
    weights: dict[str, float] = field(default_factory=dict)
    curriculum: str = "dual"
    segmenter: str | None = None  # None: the config's explore.segmenter

    def needs(self, level: str) -> bool:
        return level in self.levels


_HPL_W = {"bc": 1.0, "traj": 1.0, "step": 1.0, "group": 1.0}

METHODS: dict[str, MethodSpec] = {
    "sft": MethodSpec("sft", "sft"),
    "rft": MethodSpec("rft", "rft", levels=("traj",)),
    "eto": MethodSpec("eto", "preference", ("traj",), {"bc": 1.0, "traj": 1.0}),
    "ipr": MethodSpec("ipr", "preference", ("traj", "step"), {"bc": 1.0, "traj": 1.0, "step": 1.0}),
    "hpl": MethodSpec("hpl", "preference", ("traj", "step", "group"), dict(_HPL_W)),
}
for _seg in ("fixed_n", "fixed_k", "uncertainty", "semantic"):
    METHODS[f"hpl_{_seg}"] = MethodSpec(
        f"hpl_{_seg}", "preference", ("traj", "step", "group"), dict(_HPL_W), segmenter=_seg
    )
for _lvl in ("traj", "step", "group"):
    _levels = tuple(lv for lv in ("traj", "step", "group") if lv != _lvl)
    METHODS[f"hpl_no_{_lvl}"] = MethodSpec(
        f"hpl_no_{_lvl}", "preference", _levels, {k: v for k, v in _HPL_W.items() if k != _lvl}
    )
for _cur in ("static", "length", "difficulty"):
    METHODS[f"hpl_{_cur}"] = MethodSpec(
        f"hpl_{_cur}", "preference", ("traj", "step", "group"), dict(_HPL_W), curriculum=_cur
    )


def get_method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``name``; unknown names raise ``ValueError`` listing the choices."""
    key = name.lower().replace("-", "_")
    if key not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return METHODS[key]
