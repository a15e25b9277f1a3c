"""The forward-cost paragraph's numbers (generated/macros_scaling.tex): each backbone's fitted growth exponent
of the median forward time, so that the text states what was measured rather than asserting linear against
quadratic growth. The slope is the one the figure's legend prints and claim G7 judges
(``plots.scaling_slopes`` -> ``analysis.claims.loglog_slope``)."""

from __future__ import annotations

import pandas as pd

from ..analysis.claims import loglog_slope
from .latex import macro_name, macros_tex

BACKBONE_LABELS = {
    "gpt2": "Transformer", "mamba": "Mamba", "s4": "S4", "s4_park": "S4 (Park)", "s4_mamba": "S4-Mamba",
    "standard_hybrid": "Standard Hybrid", "mambaformer": "MambaFormer", "rwkv": "RWKV-4",
}


def scaling_macro_names(scaling: dict) -> list[str]:
    """The names ``scaling_macros`` writes for the config's ``scaling`` section."""
    return sorted(["ScalingSlopesText", "ScalingRepeats"]
                  + [macro_name("Scaling", "slope", b) for b in scaling["backbones"]])


def scaling_macros(df: pd.DataFrame) -> dict[str, str]:
    """Per backbone its slope (two decimals, -- where fewer than two lengths ran); a sentence listing all;
    the timed repeats per length."""
    v, parts = {}, []
    for backbone, d in df.groupby("backbone", sort=False):
        slope = loglog_slope(d.length, d.seconds)
        text = f"{slope:.2f}" if pd.notna(slope) else "--"
        v[macro_name("Scaling", "slope", backbone)] = text
        parts.append(f"{BACKBONE_LABELS.get(backbone, backbone)} {text}")
    v["ScalingSlopesText"] = ", ".join(parts)
    v["ScalingRepeats"] = str(int(df.repeats.iloc[0])) if "repeats" in df else "1"
    return v


def macros_scaling_job(csv: str, out_tex: str) -> None:
    with open(out_tex, "w") as f:
        f.write(macros_tex(scaling_macros(pd.read_csv(csv))))
