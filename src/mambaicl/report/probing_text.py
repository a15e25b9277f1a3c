"""The probing section's named choices as macros (spec 8: no release behaviour reproduced silently): the GD++
variant and its gamma, the band level, which models the main and appendix figures draw, and on which data
each task's models were probed. ``report.macros.macros_probing_job`` writes them, ``probing_macros`` lists
them; both take the same ``info`` the rule passes (``choice_info`` computes it from a config)."""

from __future__ import annotations

from .latex import TexStr, format_sci  # numbers as LaTeX math (the gamma macros are TexStr: not escaped)

CHOICE_MACROS = ("ProbeGdppVariant", "ProbeGdppVariantText", "ProbeGdppGamma", "ProbeGdppGammaText",
                 "ProbeBandLevel", "ProbeMainModelsText", "ProbeOtherModelsText", "ProbeTrainDataText")

# Written as LaTeX (math), not escaped: constant text only.
RAW_MACROS = frozenset({"ProbeGdppVariantText"})

VARIANT_TEXT = {
    "static": ("static preconditioning, as released: $H = I - \\gamma X^\\top X$ is computed once from the "
               "untransformed context, context and query inputs are multiplied by $H$ once, and plain GD runs "
               "on them with the step $2/(L + \\mu)$ of the untransformed $X^\\top X / n$"),
    "compounding": ("compounding preconditioning (von Oswald et al., 2023; not the release's): every iteration "
                    "multiplies all inputs by $I - \\gamma X^\\top X$ of the current, already transformed, context"),
}


def choice_info(config: dict) -> dict:
    """Per probed task: the models of the main figures and of the appendix figure."""
    from ..analysis.probe_config import main_probe_models, other_probe_models, probe_tasks

    tasks = probe_tasks(config)
    return {"main": {t: main_probe_models(config, t) for t in tasks},
            "other": {t: other_probe_models(config, t) for t in tasks}}


def choice_switches(info: dict) -> dict[str, bool]:
    """``ProbingOther``: some probed model is drawn only in the appendix figure."""
    return {"ProbingOther": any(info["other"].values())}


def _models_text(info: dict, key: str) -> str:
    parts = [f"{info['titles'][t]} ({', '.join(info['labels'][m] for m in ms)})"
             for t, ms in info[key].items() if ms]
    return "; ".join(parts) or "none"


def choice_macros(settings: dict, info: dict) -> dict[str, str]:
    """The macros of ``CHOICE_MACROS``. ``info``: titles, labels, models, main, other, data_titles."""
    g = settings["gdpp"]
    if g["gamma"] == "search":
        gamma, gamma_text = "search", TexStr(
            f"picked by the release's grid search: {g['n_gammas']} values log-spaced in "
            f"[{format_sci(g['gamma_min'], 1)}, {format_sci(g['gamma_max'], 1)}], the lowest mean query error at "
            f"iterate {g['select_iteration']}")
    else:
        from ..analysis.probe_config import GDPP_GAMMA_RELEASED

        gamma = format_sci(float(g["gamma"]), 4)
        gamma_text = TexStr(f"fixed at {gamma}" + (
            ", the release's value" if float(g["gamma"]) == GDPP_GAMMA_RELEASED
            else f" (set in the config; the release's is {format_sci(GDPP_GAMMA_RELEASED, 4)})"))
    data = [f"{', '.join(info['labels'][m] for m in info['models'][t])} trained on {info['titles'][t]}, "
            f"probed on {info['data_titles'][t]} data" for t in info["titles"] if info["models"][t]]
    return {
        "ProbeGdppVariant": g["variant"], "ProbeGdppVariantText": VARIANT_TEXT[g["variant"]],
        "ProbeGdppGamma": gamma, "ProbeGdppGammaText": gamma_text,
        "ProbeBandLevel": str(round(100 * settings["bootstrap"]["ci"])),
        "ProbeMainModelsText": _models_text(info, "main"), "ProbeOtherModelsText": _models_text(info, "other"),
        "ProbeTrainDataText": "; ".join(data) or "none",
    }
