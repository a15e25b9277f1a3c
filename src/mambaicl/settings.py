"""Evaluation settings: further prompt sets on which a task's trained models are scored.

A task's standard evaluation set is its own generator (``config.eval_data_spec``). A setting changes
that set in one of three ways, declared under ``tasks.<name>.eval_settings.<setting>``:

- ``ood: <name>``: one of Garg's out-of-distribution settings (``mambaicl.ood``; spec 5.5). The
  shorthand ``tasks.<name>.ood_suite: all`` (or a list) declares one setting per OOD name.
- ``params: {...}``: the task's generator with some options changed, e.g. the outlier tasks'
  ``setting: fixed_dummy`` / ``wo_dummy`` or MQAR's ``query_noise`` (spec 2.7, 2.10).
- ``task: <generator>`` (with optional ``params``): another generator with the same token layout,
  e.g. ReLU-trained models on linear-regression prompts (spec 5.5, "other tasks").

Each set is scored with the task's own read-out and metric, and with the baselines the setting
lists (default: the task's baselines that are quick to fit, ``FAST_BASELINES``).
"""

from __future__ import annotations

from .baselines import BASELINES, FAST_BASELINES
from .errors import ConfigError
from .ood import OOD_SETTINGS, PROMPT_STRATEGIES, make_ood_prompts, reference_line
from .tasks import TASKS, make_task

# Generators whose prompts are isotropic-Gaussian regression prompts with a scalar label, the family the
# OOD suite's prompts belong to: a model trained on one of them reads OOD prompts in its own format.
OOD_FAMILY = ("linear_regression", "skewed_linear_regression", "sparse_linear_regression", "relu_nn",
              "decision_tree", "noisy_linear_regression", "quadratic_regression")


def _fail(msg: str):
    raise ConfigError(f"config error: {msg}")


def expand_and_check(config: dict, task_params) -> None:
    """Expand ``ood_suite`` into ``eval_settings`` entries (in place) and check every setting:
    generator and options valid, token layout equal to the trained task's, baselines known."""
    for name, entry in config["tasks"].items():
        registry = entry.get("task", name)
        suite = entry.pop("ood_suite", None)
        settings = entry.setdefault("eval_settings", {})
        if suite is not None:
            if registry not in OOD_FAMILY:
                _fail(f"'tasks.{name}.ood_suite': the OOD suite is made of regression prompts with scalar labels; "
                      f"{registry} prompts differ (it applies to: {', '.join(OOD_FAMILY)})")
            for s in OOD_SETTINGS if suite == "all" else suite:
                if s in settings and settings[s] != {"ood": s}:
                    _fail(f"'tasks.{name}.eval_settings.{s}' is also an OOD setting named by 'ood_suite'; "
                          "rename one of them")
                settings.setdefault(s, {"ood": s})
        own = make_task(registry, **task_params(entry, registry))
        for s, spec in settings.items():
            where = f"tasks.{name}.eval_settings.{s}"
            if "ood" in spec:
                if "task" in spec or "params" in spec:
                    _fail(f"'{where}': an 'ood' setting takes no 'task' or 'params' (its generator is Garg's)")
                if registry not in OOD_FAMILY:
                    _fail(f"'{where}': OOD settings apply to regression tasks ({', '.join(OOD_FAMILY)}), not {registry}")
            else:
                gen = spec.get("task", registry)
                if gen not in TASKS:
                    _fail(f"'{where}.task': unknown generator '{gen}' (implemented: {', '.join(sorted(TASKS))})")
                if "task" not in spec and "params" not in spec:
                    _fail(f"'{where}': say how the set differs from the standard one ('ood', 'task' or 'params')")
                try:
                    other = make_task(gen, **_setting_params(entry, registry, spec))
                except ValueError as e:
                    _fail(f"'{where}.params': {e}")
                if other.token_dim != own.token_dim or type(other).tokens is not type(own).tokens:
                    _fail(f"'{where}': {gen} prompts (token width {other.token_dim}) do not have the layout of "
                          f"{registry} prompts (token width {own.token_dim}); the trained models cannot read them")
            if spec.get("n_points", entry["eval_points"]) < 1:
                _fail(f"'{where}.n_points' must be at least 1")
            for b in spec.get("baselines", []):
                if b not in BASELINES:
                    _fail(f"'{where}.baselines': unknown baseline '{b}'")


def _setting_params(entry: dict, registry: str, spec: dict) -> dict:
    """Constructor parameters of a non-OOD setting's generator: the task's own (same generator) or
    just n_dims (another generator), then the setting's ``params``."""
    gen = spec.get("task", registry)
    base = {"n_dims": entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS)}
    if gen == registry:
        base.update(entry.get("params", {}))
    return {**base, **spec.get("params", {})}


def settings_of(config: dict, task: str) -> list[str]:
    return list(config["tasks"][task].get("eval_settings", {}))


def setting_baselines(config: dict, task: str, setting: str, task_baselines: list[str]) -> list[str]:
    spec = config["tasks"][task]["eval_settings"][setting]
    if "baselines" in spec:
        return list(spec["baselines"])
    return [b for b in task_baselines if b in FAST_BASELINES]


def setting_data_spec(config: dict, task: str, setting: str) -> dict:
    """Everything that determines the setting's prompt set (a rule's params: a change reruns it)."""
    entry = config["tasks"][task]
    registry = entry.get("task", task)
    spec = entry["eval_settings"][setting]
    ev = config["evaluation"]
    out = {
        "setting": setting,
        "n_prompts": spec.get("n_prompts", ev["n_prompts"]),
        "n_points": spec.get("n_points", entry["eval_points"]),
        "seed": ev["data_seed"],
    }
    if "ood" in spec:
        out["ood"] = spec["ood"]
        out["n_dims"] = entry.get("n_dims", TASKS[registry].DEFAULT_N_DIMS)
    else:
        gen = spec.get("task", registry)
        task_obj = make_task(gen, **_setting_params(entry, registry, spec))
        out["task"] = {"name": gen, **_setting_params(entry, registry, spec), **task_obj.eval_overrides()}
    return out


def generate_setting_prompts(spec: dict):
    """The setting's ``PromptSet``; its meta records the normaliser, the metric and the reference line."""
    from .data import PromptSet, generate_prompt_set

    if "ood" in spec:
        d = spec["n_dims"]
        prompts = make_ood_prompts(spec["ood"], spec["n_prompts"], spec["n_points"], spec["seed"], n_dims=d)
        meta = {"spec": spec, "normalizer": float(d), "metric": "squared_error",
                "reference_line": reference_line(spec["ood"], d),
                "query_strategy": spec["ood"] in PROMPT_STRATEGIES}
        return PromptSet(prompts, meta)
    ps = generate_prompt_set({k: spec[k] for k in ("task", "n_prompts", "n_points", "seed")})
    ps.meta.update(spec=spec, query_strategy=False)
    return ps


# --- workflow jobs ------------------------------------------------------------------------------

def make_setting_prompts_job(spec: dict, out_npz: str, out_meta: str) -> None:
    from .data import save_prompt_set

    ps = generate_setting_prompts(spec)
    save_prompt_set(ps, out_npz, out_meta)
    print(f"wrote setting {spec['setting']}: {ps.n_prompts} prompts of {ps.n_points} points to {out_npz}")


def _reference(meta: dict) -> float:
    """The zero predictor's level in a panel: the OOD setting's line, chance for accuracies, else 1."""
    if meta.get("reference_line") is not None:
        return float(meta["reference_line"])
    return 0.5 if meta.get("metric") == "accuracy" else 1.0


def figure_settings_job(panels: dict[str, tuple[str, str]], train_points: int, out_pdf: str) -> None:
    """One panel per evaluation setting (``standard`` first): setting -> (curves csv, prompt-set meta)."""
    import json
    from pathlib import Path

    import pandas as pd

    from .figures import plot_setting_panels
    from .pipeline import metric_label

    rows = []
    for setting, (csv, meta_path) in panels.items():
        meta = json.loads(Path(meta_path).read_text())
        rows.append((setting.replace("_", " "), pd.read_csv(csv), _reference(meta)))
    metric = json.loads(Path(next(iter(panels.values()))[1]).read_text()).get("metric", "squared_error")
    plot_setting_panels(rows, out_pdf, train_points, ylabel=metric_label(metric))


def window_means(curves, window: int):
    """Mean normalised metric over each curve's last ``window`` evaluated positions: (kind, name, label) -> value."""
    return (curves.sort_values("k").groupby(["kind", "name", "label"], sort=False)["normalized_mean"]
            .apply(lambda s: s.tail(window).mean()))


def table_settings_job(title: str, task: str, curves: dict[str, str], window: int, out_tex: str) -> None:
    """Rows: models then baselines; columns: settings; cells: mean normalised metric over the last
    ``window`` positions each curve has (orthogonal queries exist only for k < d)."""
    from pathlib import Path

    import pandas as pd

    from .report import format_number, latex_escape

    cols = {s: window_means(pd.read_csv(p), window) for s, p in curves.items()}
    wide = pd.DataFrame(cols)
    order = {"model": 0, "baseline": 1}
    wide = wide.iloc[sorted(range(len(wide)), key=lambda i: order[wide.index[i][0]])]
    names = [latex_escape(s.replace("_", " ")) for s in curves]
    n = len(names)
    lines = [r"\begin{table}[tbp]", r"\centering", r"\scriptsize",
             rf"\caption{{{latex_escape(title)}: normalized error per evaluation setting, mean over the last "
             rf"{window} positions each curve reaches (mean over seeds and prompts).}}",
             rf"\label{{tab:settings-{task.replace('_', '-')}}}",
             r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{l{'r' * n}}}", r"\toprule",
             " & ".join(["Model"] + [rf"\rotatebox{{60}}{{{c}}}" for c in names]) + r" \\", r"\midrule"]
    prev = None
    for (kind, _, label), row in wide.iterrows():
        if prev == "model" and kind == "baseline":
            lines.append(r"\midrule")
        prev = kind
        lines.append(" & ".join([latex_escape(label)] + ["--" if pd.isna(v) else format_number(v) for v in row])
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    Path(out_tex).write_text("\n".join(lines))


def extra_metrics_job(sets: dict[str, dict], labels: dict[str, str], bootstrap: dict, n_bins: int,
                      out_csv: str, out_by_position_csv: str) -> None:
    """Secondary metrics (MQAR: nearest-value accuracy, key-match error) per setting, model and baseline,
    mean over seeds with a bootstrap CI; and the metric by queried pair (``query_index``) binned into
    ``n_bins`` groups, for the standard set.

    ``sets``: setting -> {"models": {model: [extra npz per seed]}, "baselines": {name: npz},
    "prompts": prompt-set npz}."""
    import numpy as np
    import pandas as pd

    from .baselines import BASELINE_LABELS
    from .stats import bootstrap_mean_ci

    rng = np.random.default_rng(bootstrap["seed"])
    rows, by_pos = [], []
    for setting, files in sets.items():
        entries = [("model", m, labels[m], paths) for m, paths in files["models"].items()]
        entries += [("baseline", b, BASELINE_LABELS[b], [p]) for b, p in files["baselines"].items()]
        with np.load(files["prompts"]) as f:
            qi = f["extra_query_index"] if "extra_query_index" in f.files else None
        for kind, name, label, paths in entries:
            loaded = [np.load(p) for p in paths]
            for metric in loaded[0].files:
                arrs = [d[metric][:, -1:] for d in loaded]  # (N, 1): the last position
                mean, low, high = bootstrap_mean_ci(arrs, bootstrap["n_resamples"], bootstrap["ci"], rng)
                rows.append(dict(setting=setting, kind=kind, name=name, label=label, metric=metric,
                                 mean=mean[0], ci_low=low[0], ci_high=high[0], n_seeds=len(arrs)))
                if setting == "standard" and qi is not None:
                    vals = np.mean([a[:, 0] for a in arrs], axis=0)
                    bins = np.minimum(qi * n_bins // max(int(qi.max()) + 1, 1), n_bins - 1)
                    for b in range(n_bins):
                        sel = bins == b
                        if sel.any():
                            by_pos.append(dict(kind=kind, name=name, label=label, metric=metric, bin=b,
                                               first_pair=int(qi[sel].min()), last_pair=int(qi[sel].max()),
                                               mean=float(vals[sel].mean()), n=int(sel.sum())))
    cols = ["setting", "kind", "name", "label", "metric", "mean", "ci_low", "ci_high", "n_seeds"]
    pd.DataFrame(rows, columns=cols).to_csv(out_csv, index=False)
    pd.DataFrame(by_pos, columns=["kind", "name", "label", "metric", "bin", "first_pair", "last_pair", "mean",
                                  "n"]).to_csv(out_by_position_csv, index=False)


def table_retrieval_job(title: str, task: str, curves: dict[str, str], extra_csv: str, out_tex: str) -> None:
    """Park's MQAR table (T2): per model and baseline, the normalised squared error, the nearest-value
    accuracy and the release's key-match error on the standard set, then nearest-value accuracy per
    further setting (e.g. noisy queries)."""
    from pathlib import Path

    import pandas as pd

    from .report import format_number, latex_escape

    extra = pd.read_csv(extra_csv)
    std = pd.read_csv(curves["standard"])
    mse = std.sort_values("k").groupby(["kind", "name"], sort=False)["normalized_mean"].last()
    others = [s for s in curves if s != "standard"]
    head = ["Model", "MSE", "NV acc.", "key-match err."] + [rf"NV acc. {latex_escape(s.replace('_', ' '))}"
                                                             for s in others]
    lines = [r"\begin{table}[tbp]", r"\centering", r"\scriptsize",
             rf"\caption{{{latex_escape(title)}: normalized squared error (MSE), nearest-value accuracy (NV acc., "
             r"the retrieval metric) and the released key-match error on the standard set, and nearest-value "
             r"accuracy on the further evaluation sets (mean over seeds and prompts).}",
             rf"\label{{tab:retrieval-{task.replace('_', '-')}}}",
             r"\resizebox{\linewidth}{!}{%", rf"\begin{{tabular}}{{l{'r' * (len(head) - 1)}}}", r"\toprule",
             " & ".join(head) + r" \\", r"\midrule"]

    def cell(setting, kind, name, metric):
        d = extra[(extra.setting == setting) & (extra.kind == kind) & (extra.name == name) & (extra.metric == metric)]
        return "--" if d.empty else format_number(d["mean"].iloc[0])

    prev = None
    for (kind, name), label in std.drop_duplicates(["kind", "name"]).set_index(["kind", "name"])["label"].items():
        if prev == "model" and kind == "baseline":
            lines.append(r"\midrule")
        prev = kind
        cells = [format_number(mse[(kind, name)]), cell("standard", kind, name, "nearest_value_accuracy"),
                 cell("standard", kind, name, "key_match_error")]
        cells += [cell(s, kind, name, "nearest_value_accuracy") for s in others]
        lines.append(" & ".join([latex_escape(label)] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    Path(out_tex).write_text("\n".join(lines))
