"""Layer-by-layer logit-lens probing (Grazzi et al. 2024; spec section 6).

For a trained model and a probed task:

1. Prompts: ``n_prompts`` tasks of ``n_points`` points. Each probed sequence is the first ``n_context``
   examples plus one query, the queries being the remaining points appended one at a time.
2. Logit lens: the residual stream after every block, read at x-token positions through the model's
   own final norm and read-out head (``decode_layers``): one scalar per block and position.
3. Affine probe: per prompt and block, (scale, shift) fit by least squares on the context positions
   ``fit_positions`` (0-based, inclusive), scored as the MSE over the queries. The raw variant is the
   decoded value's MSE without the fit.
4. References (linear regression): gradient descent and GD++ iterates on the same context examples,
   iterate t plotted at relative depth t / (iterations - 1) (``gd_iterates``).

Numbers are stored raw (squared error, not divided by anything); ``plot_scale`` maps them to what
figures and macros show (``gd_scale``: per_dim = MSE / D for every curve; released = probe raw and
GD x 2/D, the release's mismatch, defect D13).

Config: the optional top-level ``probing`` section (``probing_settings`` fills its defaults;
``check_probing`` validates it). A model with a learned positional table shorter than the probed
sequence is refused when listed explicitly, and left out (and named in the report) when the task's
model list is the default.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .errors import ConfigError
from .stats import bootstrap_mean_ci

# Generators whose prompts use the interleaved layout and a scalar read-out: the probe applies.
PROBE_GENERATORS = ("linear_regression", "skewed_linear_regression", "sparse_linear_regression", "relu_nn",
                    "decision_tree", "noisy_linear_regression", "quadratic_regression")
# Data generators for which the GD / GD++ reference curves are drawn by default (spec 6.7).
GD_REFERENCE_GENERATORS = ("linear_regression", "skewed_linear_regression")

DEFAULTS = {
    "n_prompts": 64,             # spec 6.2: one batch of 64 tasks
    "n_points": 70,              # 40 context examples + 30 queries
    "n_context": 40,
    "fit_positions": {"start": 30, "end": 39},   # spec 6.4: context positions 31-40 (1-based)
    "data_seed": 20240203,
    "batch_size": 256,           # probed sequences per forward pass
    "bootstrap": {"n_resamples": 10000, "ci": 0.9, "seed": 0},
    "gd_scale": "per_dim",
    "gd_iterations": 24,
    "gdpp": {"gamma_min": 1.0e-6, "gamma_max": 1.0e-3, "n_gammas": 31, "select_iteration": 22},
}


# --------------------------------------------------------------------------------------------
# Config: defaults, derived lists, validation


def _merge(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for k, v in given.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def probing_settings(config: dict) -> dict:
    """The ``probing`` section with every default filled in; ``tasks`` is {} when the section is absent."""
    section = config.get("probing") or {}
    out = _merge(DEFAULTS, {k: v for k, v in section.items() if k != "tasks"})
    out["tasks"] = copy.deepcopy(section.get("tasks") or {})
    return out


def probe_tasks(config: dict) -> list[str]:
    return list(probing_settings(config)["tasks"])


def _generator(config: dict, task: str) -> str:
    return config["tasks"][task].get("task", task)


def data_task_of(config: dict, task: str) -> str:
    """The configured task instance whose generator draws the probe prompts (default the task itself)."""
    return (probing_settings(config)["tasks"][task] or {}).get("data_task", task)


def _trained_models(config: dict, task: str) -> list[str]:
    return [m for exp in config["experiments"] if exp["task"] == task for m in exp["models"]]


def _model_fits(config: dict, task: str, model: str) -> bool:
    from .models import max_tokens_of
    from .tasks import make_task
    from .config import task_params

    max_tok = max_tokens_of(config["models"][model])
    if max_tok is None:
        return True
    gen = _generator(config, task)
    instance = make_task(gen, **task_params(config["tasks"][task], gen))
    return instance.max_points(max_tok) >= probing_settings(config)["n_context"] + 1


def probe_models(config: dict, task: str) -> list[str]:
    """Models probed on ``task``: the listed ones, or every model trained on it whose positional table
    holds a probed sequence."""
    entry = probing_settings(config)["tasks"][task] or {}
    if "models" in entry:
        return list(entry["models"])
    return [m for m in _trained_models(config, task) if _model_fits(config, task, m)]


def skipped_models(config: dict, task: str) -> list[str]:
    """Trained models left out by default because their learned positional table is too short."""
    entry = probing_settings(config)["tasks"][task] or {}
    if "models" in entry:
        return []
    return [m for m in _trained_models(config, task) if not _model_fits(config, task, m)]


def probe_seeds(config: dict, task: str, model: str) -> list[int]:
    from .config import seeds_of

    entry = probing_settings(config)["tasks"][task] or {}
    trained = seeds_of(config, task, model)
    return [s for s in entry["seeds"] if s in trained] if "seeds" in entry else trained


def probe_runs(config: dict) -> list[tuple[str, str, int]]:
    """Every (task, model, seed) to probe."""
    return [(t, m, s) for t in probe_tasks(config) for m in probe_models(config, t) for s in probe_seeds(config, t, m)]


def gd_reference_tasks(config: dict) -> list[str]:
    out = []
    for task, entry in probing_settings(config)["tasks"].items():
        default = _generator(config, data_task_of(config, task)) in GD_REFERENCE_GENERATORS
        if (entry or {}).get("gd_reference", default):
            out.append(task)
    return out


def probe_data_spec(config: dict, task: str) -> dict:
    """Spec of the probe prompt set (``mambaicl.data.generate_prompt_set``): the data task's generator
    with its evaluation overrides (one fixed rotation for skewed LR)."""
    from .config import task_spec
    from .tasks import task_from_spec

    s = probing_settings(config)
    spec = task_spec(config, data_task_of(config, task))
    return {"task": {**spec, **task_from_spec(spec).eval_overrides()}, "n_prompts": s["n_prompts"],
            "n_points": s["n_points"], "seed": s["data_seed"]}


def check_probing(config: dict) -> None:
    """Cross-field checks of the ``probing`` section; raises ConfigError naming the key and the fix."""
    from .config import seeds_of, task_spec
    from .tasks import task_from_spec

    def fail(msg: str):
        raise ConfigError(f"config error: {msg}")

    s = probing_settings(config)
    if s["n_context"] >= s["n_points"]:
        fail(f"'probing.n_context' = {s['n_context']} leaves no query: it must be below probing.n_points = "
             f"{s['n_points']}")
    fp = s["fit_positions"]
    if not 0 <= fp["start"] < fp["end"] <= s["n_context"] - 1:
        fail(f"'probing.fit_positions' = {fp['start']}..{fp['end']} must be at least two context positions "
             f"within 0..{s['n_context'] - 1} (0-based, inclusive; probing.n_context = {s['n_context']})")
    g = s["gdpp"]
    if not g["gamma_min"] < g["gamma_max"]:
        fail(f"'probing.gdpp': gamma_min {g['gamma_min']} must be below gamma_max {g['gamma_max']}")
    if g["select_iteration"] >= s["gd_iterations"]:
        fail(f"'probing.gdpp.select_iteration' = {g['select_iteration']} must be below probing.gd_iterations = "
             f"{s['gd_iterations']} (iterates are counted from 0)")
    trained = {exp["task"] for exp in config["experiments"]}
    for task, entry in s["tasks"].items():
        entry = entry or {}
        key = f"probing.tasks.{task}"
        if task not in trained:
            fail(f"'{key}': no experiment trains a model on '{task}' (trained: {', '.join(sorted(trained))}); "
                 "name a trained task instance")
        data = entry.get("data_task", task)
        if data not in config["tasks"]:
            fail(f"'{key}.data_task' = '{data}' is not configured under 'tasks' "
                 f"(configured: {', '.join(config['tasks'])})")
        for name in dict.fromkeys([task, data]):
            if _generator(config, name) not in PROBE_GENERATORS:
                fail(f"'{key}': generator {_generator(config, name)} of '{name}' cannot be probed (scalar "
                     f"interleaved tasks only: {', '.join(PROBE_GENERATORS)})")
        d_model_task = task_from_spec(task_spec(config, task)).n_dims
        d_data = task_from_spec(task_spec(config, data)).n_dims
        if d_model_task != d_data:
            fail(f"'{key}.data_task' = '{data}' has n_dims {d_data}, but the models were trained on "
                 f"{d_model_task}-dimensional '{task}' inputs; pick a data task with the same n_dims")
        models = _trained_models(config, task)
        for i, m in enumerate(entry.get("models", [])):
            if m not in models:
                fail(f"'{key}.models[{i}]' = '{m}' is not trained on '{task}' (trained: {', '.join(models)})")
            if not _model_fits(config, task, m):
                fail(f"'{key}.models[{i}]' = '{m}' has a learned positional table too short for a probed "
                     f"sequence of {s['n_context'] + 1} points; lower probing.n_context or drop the model "
                     "(left out by default when models is not given)")
        for i, seed in enumerate(entry.get("seeds", [])):
            for m in probe_models(config, task):
                if seed not in seeds_of(config, task, m):
                    fail(f"'{key}.seeds[{i}]' = {seed} is not a trained seed of model '{m}' on '{task}' "
                         f"(trained seeds: {seeds_of(config, task, m)})")
        if not probe_models(config, task):
            fail(f"'{key}': no trained model can be probed (every one has a positional table shorter than "
                 f"{s['n_context'] + 1} points); lower probing.n_context")


# --------------------------------------------------------------------------------------------
# Logit lens and affine probe


@torch.no_grad()
def decode_layers(model, task, batch) -> torch.Tensor:
    """(L, B, P): every block's residual stream through the final norm and read-out, at x-tokens."""
    _, streams = model.backbone(model.read_in(task.tokens(batch)), output_hidden_states=True)
    return torch.stack([task.predictions(model.read_out(model.backbone.final_norm(h)), batch) for h in streams])


def query_sequences(xs: torch.Tensor, ys: torch.Tensor, n_context: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, P, D), (B, P) -> (B*Q, n_context+1, D), (B*Q, n_context+1): the first ``n_context`` examples
    followed by query q = n_context .. P-1, one sequence per (prompt, query), prompt-major."""
    b, p, d = xs.shape
    q = p - n_context
    seq_x = torch.cat([xs[:, None, :n_context].expand(b, q, n_context, d), xs[:, n_context:, None]], dim=2)
    seq_y = torch.cat([ys[:, None, :n_context].expand(b, q, n_context), ys[:, n_context:, None]], dim=2)
    return seq_x.reshape(b * q, n_context + 1, d), seq_y.reshape(b * q, n_context + 1)


@torch.no_grad()
def decode_probe_prompts(model, task, xs: torch.Tensor, ys: torch.Tensor, n_context: int, batch_size: int,
                         device: torch.device | str = "cpu", progress: bool = True
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """Decoded values at the context positions (L, B, n_context) and at the queries (L, B, Q), plus the
    largest |last-block decoding - model prediction| over all sequences (the self-check, spec 6.3)."""
    from .tasks import PromptBatch

    model.eval().to(device)
    b, p, _ = xs.shape
    seq_x, seq_y = query_sequences(xs, ys, n_context)
    chunks, max_diff = [], 0.0
    starts = range(0, seq_x.shape[0], batch_size)
    for i in tqdm(starts, desc="probe sequences", mininterval=5, disable=not progress):
        batch = PromptBatch(seq_x[i:i + batch_size], seq_y[i:i + batch_size]).to(device)
        dec = decode_layers(model, task, batch)  # (L, b, n_context+1)
        max_diff = max(max_diff, float((dec[-1] - model.predict(task, batch)).abs().max()))
        chunks.append(dec.double().cpu())
    dec = torch.cat(chunks, dim=1).reshape(-1, b, p - n_context, n_context + 1).numpy()
    # Causality: the context outputs are the same in every query's sequence; take the first's.
    return dec[:, :, 0, :n_context], dec[:, :, :, n_context], max_diff


def fit_affine(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (scale, shift) with scale * pred + shift ~ target over the last axis; vectorised.

    A constant ``pred`` (no variance) gets scale 0 and shift mean(target): the minimiser whose
    prediction does not depend on the unseen query value.
    """
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    pm, tm = pred.mean(-1, keepdims=True), target.mean(-1, keepdims=True)
    var = ((pred - pm) ** 2).mean(-1)
    cov = ((pred - pm) * (target - tm)).mean(-1)
    flat = var <= 1e-12 * np.maximum(1.0, (pred ** 2).mean(-1))
    scale = np.where(flat, 0.0, cov / np.where(flat, 1.0, var))
    shift = tm[..., 0] - scale * pm[..., 0]
    return scale, shift


def probe_scores(ctx_dec: np.ndarray, query_dec: np.ndarray, ys: np.ndarray, n_context: int,
                 fit_start: int, fit_end: int) -> dict[str, np.ndarray]:
    """Per (layer, prompt): probe_mse, raw_mse, scale, shift, each (L, B).

    ctx_dec (L, B, n_context), query_dec (L, B, Q), ys (B, P) with P = n_context + Q.
    """
    ys = np.asarray(ys, np.float64)
    dec_fit = ctx_dec[:, :, fit_start:fit_end + 1]  # (L, B, F)
    scale, shift = fit_affine(dec_fit, np.broadcast_to(ys[None, :, fit_start:fit_end + 1], dec_fit.shape))
    y_q = ys[None, :, n_context:]  # (1, B, Q)
    probe = scale[..., None] * query_dec + shift[..., None]
    return {
        "probe_mse": ((probe - y_q) ** 2).mean(-1),
        "raw_mse": ((query_dec - y_q) ** 2).mean(-1),
        "scale": scale,
        "shift": shift,
    }


def relative_depth(n_layers: int) -> np.ndarray:
    """Block l of L at l / (L - 1) (spec 6.6); a single block sits at 1."""
    return np.arange(n_layers) / (n_layers - 1) if n_layers > 1 else np.ones(1)


def scores_table(scores: dict[str, np.ndarray], **labels) -> pd.DataFrame:
    """Tidy per-(layer, prompt) rows: layer, relative_depth, prompt and the score columns."""
    n_layers, n_prompts = scores["probe_mse"].shape
    df = pd.DataFrame({
        "layer": np.repeat(np.arange(n_layers), n_prompts),
        "relative_depth": np.repeat(relative_depth(n_layers), n_prompts),
        "prompt": np.tile(np.arange(n_prompts), n_layers),
        **{k: v.reshape(-1) for k, v in scores.items()},
    })
    for key, value in reversed(labels.items()):
        df.insert(0, key, value)
    return df


# --------------------------------------------------------------------------------------------
# Gradient-descent references (spec 6.7, 6.8)


def gd_step_sizes(xs: np.ndarray) -> np.ndarray:
    """(B, n, D) -> (B,): 2 / (lambda_max + lambda_min) of X^T X / n, the optimal constant GD step."""
    xs = np.asarray(xs, np.float64)
    eig = np.linalg.eigvalsh(np.einsum("bnd,bne->bde", xs, xs) / xs.shape[1])
    return 2.0 / (eig[:, -1] + eig[:, 0])


def gd_iterates(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, n_iter: int, gamma: float = 0.0,
                step: np.ndarray | None = None) -> np.ndarray:
    """Query predictions of GD (gamma = 0) or GD++ iterates t = 0 .. n_iter-1, shape (n_iter, B, Q).

    xs (B, n, D), ys (B, n): the context; xq (B, Q, D): the queries. Least squares
    L(w) = ||X w - y||^2 / (2n) from w = 0 (iterate 0 is the zero predictor), step ``step`` (default
    ``gd_step_sizes``). Written in token space as in von Oswald et al. 2023: each iteration adds
    (eta/n) sum_i r_i x_i^T x_j to every prediction (r the context residuals), which for gamma = 0 is
    w <- w - eta grad L(w); GD++ also transforms every input, context and query, by
    H = I - gamma X^T X of the current context, with both updates computed from the same inputs.
    """
    x = np.asarray(xs, np.float64).copy()
    y = np.asarray(ys, np.float64)
    q = np.asarray(xq, np.float64).copy()
    eta = gd_step_sizes(x) if step is None else np.asarray(step, np.float64)
    n = x.shape[1]
    pred_c, pred_q = np.zeros(y.shape), np.zeros(q.shape[:2])
    out = [pred_q.copy()]
    eye = np.eye(x.shape[-1])
    for _ in range(n_iter - 1):
        g = np.einsum("bn,bnd->bd", y - pred_c, x) * (eta / n)[:, None]  # (B, D): -eta grad at the current x
        new_c = pred_c + np.einsum("bnd,bd->bn", x, g)
        pred_q = pred_q + np.einsum("bqd,bd->bq", q, g)
        if gamma:
            h = eye - gamma * np.einsum("bnd,bne->bde", x, x)  # (B, D, D), symmetric
            x, q = x @ h, q @ h
        pred_c = new_c
        out.append(pred_q.copy())
    return np.stack(out)


def gd_query_mse(xs: np.ndarray, ys: np.ndarray, n_context: int, n_iter: int, gamma: float = 0.0) -> np.ndarray:
    """(n_iter, B): per-prompt MSE over the queries of GD / GD++ run on the first ``n_context`` examples."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    preds = gd_iterates(xs[:, :n_context], ys[:, :n_context], xs[:, n_context:], n_iter, gamma)
    return ((preds - ys[None, :, n_context:]) ** 2).mean(-1)


def select_gamma(xs: np.ndarray, ys: np.ndarray, n_context: int, gammas: np.ndarray, select_iteration: int
                 ) -> tuple[float, pd.DataFrame]:
    """The GD++ gamma of the grid with the lowest mean query MSE at ``select_iteration`` (spec 6.8)."""
    losses = []
    for gamma in tqdm(gammas, desc="GD++ gamma grid", mininterval=5):
        with np.errstate(over="ignore", invalid="ignore"):
            mse = gd_query_mse(xs, ys, n_context, select_iteration + 1, float(gamma))[-1].mean()
        losses.append(mse if np.isfinite(mse) else np.inf)
    search = pd.DataFrame({"gamma": gammas, "query_mse": losses})
    return float(gammas[int(np.argmin(losses))]), search


def plot_scale(gd_scale: str, n_dims: int, kind: str) -> float:
    """Factor applied to a raw MSE before plotting: ``kind`` is 'probe' or 'gd' (spec 6.9, defect D13)."""
    if gd_scale == "per_dim":
        return 1.0 / n_dims
    if gd_scale == "released":
        return 2.0 / n_dims if kind == "gd" else 1.0
    raise ValueError(f"probing.gd_scale must be per_dim or released; got {gd_scale!r}")


# --------------------------------------------------------------------------------------------
# Workflow jobs (called by workflow/scripts/probe_*.py and figure_probe_*.py)


def probe_model_job(task: str, model_name: str, seed: int, model_path: str, prompts_npz: str, prompts_meta: str,
                    settings: dict, device: str, threads: int, out_csv: str) -> None:
    from .data import load_prompt_set
    from .device import configure_torch, resolve_device
    from .tasks import task_from_spec
    from .train import load_trained_model

    dev = resolve_device(device)
    configure_torch(dev, threads)
    prompts = load_prompt_set(prompts_npz, prompts_meta)
    model, state = load_trained_model(model_path, dev)
    trained_task = task_from_spec(state["spec"]["task"])  # token layout and read-out of the model's own task
    n_context = settings["n_context"]
    xs, ys = prompts.prompts.xs, prompts.prompts.ys
    ctx, query, max_diff = decode_probe_prompts(model, trained_task, xs, ys, n_context, settings["batch_size"], dev)
    tol = 1e-5 if dev.type == "cpu" else 1e-3
    scale = max(1.0, float(np.abs(query[-1]).max()))
    print(f"self-check: last block decoded vs model prediction, max |diff| = {max_diff:.3g}")
    if max_diff > tol * scale:
        raise RuntimeError(f"{model_path}: decoding the last block differs from the model's prediction by "
                           f"{max_diff:.3g}; the backbone's streams or final_norm break the probing contract")
    fp = settings["fit_positions"]
    scores = probe_scores(ctx, query, ys.double().numpy(), n_context, fp["start"], fp["end"])
    df = scores_table(scores, task=task, model=model_name, seed=seed)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_csv, index=False)
    print(f"probed {model_path} (spec {state['spec_hash']}): {ctx.shape[0]} blocks, {xs.shape[0]} prompts, "
          f"{xs.shape[1] - n_context} queries; last-block probe MSE {scores['probe_mse'][-1].mean():.4g}")


def probe_aggregate_job(files: dict[str, dict[str, list[str]]], labels: dict[str, str], backbones: dict[str, str],
                        n_dims: dict[str, int], bootstrap: dict, out_csv: str) -> None:
    """Mean over seeds with a bootstrap CI (prompts resampled within each seed) per task, model and block."""
    frames = []
    for task, by_model in files.items():
        for model, paths in by_model.items():
            per_seed = [pd.read_csv(p).sort_values(["layer", "prompt"]) for p in paths]
            n_layers = int(per_seed[0].layer.max()) + 1
            row = {"task": task, "model": model, "label": labels[model], "backbone": backbones[model],
                   "layer": np.arange(n_layers), "relative_depth": relative_depth(n_layers),
                   "n_layers": n_layers, "n_prompts": int(per_seed[0].prompt.max()) + 1,
                   "n_seeds": len(paths), "n_dims": n_dims[task]}
            for col in ("probe_mse", "raw_mse", "scale", "shift"):
                arrays = [d[col].to_numpy().reshape(n_layers, -1).T for d in per_seed]  # (N, L) per seed
                rng = np.random.default_rng(bootstrap["seed"])
                mean, low, high = bootstrap_mean_ci(arrays, bootstrap["n_resamples"], bootstrap["ci"], rng)
                row.update({col: mean, f"{col}_ci_low": low, f"{col}_ci_high": high})
            frames.append(pd.DataFrame(row))
    pd.concat(frames).to_csv(out_csv, index=False)
    print(f"aggregated {sum(len(v) for v in files.values())} (task, model) probes into {out_csv}")


def gd_reference_job(prompts: dict[str, list[str]], settings: dict, out_csv: str, out_search_csv: str) -> None:
    """GD and GD++ query MSE per iterate (mean over prompts, bootstrap CI) for each task in ``prompts``
    (task -> [npz, json]), and the GD++ gamma grid search."""
    from .data import load_prompt_set

    n_context, n_iter, g = settings["n_context"], settings["gd_iterations"], settings["gdpp"]
    boot = settings["bootstrap"]
    gammas = np.geomspace(g["gamma_min"], g["gamma_max"], g["n_gammas"])
    frames, searches = [], []
    for task, (npz, meta) in prompts.items():
        ps = load_prompt_set(npz, meta)
        xs, ys = ps.prompts.xs.double().numpy(), ps.prompts.ys.double().numpy()
        gamma, search = select_gamma(xs, ys, n_context, gammas, g["select_iteration"])
        searches.append(search.assign(task=task, selected=search.gamma == gamma))
        for method, gm in (("gd", 0.0), ("gdpp", gamma)):
            mse = gd_query_mse(xs, ys, n_context, n_iter, gm).T  # (B, n_iter)
            rng = np.random.default_rng(boot["seed"])
            mean, low, high = bootstrap_mean_ci(mse, boot["n_resamples"], boot["ci"], rng)
            frames.append(pd.DataFrame({"task": task, "method": method, "iterate": np.arange(n_iter),
                                        "relative_depth": relative_depth(n_iter), "mse": mean, "mse_ci_low": low,
                                        "mse_ci_high": high, "gamma": gm, "n_dims": xs.shape[-1],
                                        "n_prompts": xs.shape[0]}))
        print(f"{task}: GD++ gamma {gamma:.3g}; query MSE after {n_iter - 1} steps: "
              f"GD {frames[-2].mse.iloc[-1]:.4g}, GD++ {frames[-1].mse.iloc[-1]:.4g}")
    cols = ["task", "method", "iterate", "relative_depth", "mse", "mse_ci_low", "mse_ci_high", "gamma", "n_dims",
            "n_prompts"]
    (pd.concat(frames) if frames else pd.DataFrame(columns=cols)).to_csv(out_csv, index=False)
    search_cols = ["gamma", "query_mse", "task", "selected"]
    (pd.concat(searches) if searches else pd.DataFrame(columns=search_cols)).to_csv(out_search_csv, index=False)


def figure_probe_mse_job(summary_csv: str, gd_csv: str, titles: dict[str, str], gd_scale: str, out_pdf: str) -> None:
    from .figures_probing import plot_probe_mse  # matplotlib: only figure jobs pay its import

    plot_probe_mse(pd.read_csv(summary_csv), pd.read_csv(gd_csv), titles, gd_scale, out_pdf)


def figure_probe_scale_shift_job(summary_csv: str, titles: dict[str, str], out_pdf: str) -> None:
    from .figures_probing import plot_probe_scale_shift

    plot_probe_scale_shift(pd.read_csv(summary_csv), titles, out_pdf)


def macros_probing_job(settings: dict, info: dict, summary_csv: str | None, gd_csv: str | None, out_tex: str) -> None:
    """Every probing number and list the paper quotes. ``info``: titles, models and skipped models per task."""
    from .report import format_number, macro_name, macros_tex

    s = settings
    v: dict[str, str] = {
        "ProbePrompts": str(s["n_prompts"]), "ProbePoints": str(s["n_points"]), "ProbeContext": str(s["n_context"]),
        "ProbeQueries": str(s["n_points"] - s["n_context"]),
        "ProbeFitFirst": str(s["fit_positions"]["start"] + 1), "ProbeFitLast": str(s["fit_positions"]["end"] + 1),
        "ProbeFitCount": str(s["fit_positions"]["end"] - s["fit_positions"]["start"] + 1),
        "ProbeBootstrap": f"{s['bootstrap']['n_resamples']:,}", "ProbeCI": str(round(100 * s["bootstrap"]["ci"])),
        "ProbeGdScale": s["gd_scale"], "ProbeGdIterations": str(s["gd_iterations"]),
        "ProbeGdLastIterate": str(s["gd_iterations"] - 1),
        "ProbeGammaMin": f"{s['gdpp']['gamma_min']:.0e}", "ProbeGammaMax": f"{s['gdpp']['gamma_max']:.0e}",
        "ProbeGammaCount": str(s["gdpp"]["n_gammas"]), "ProbeGammaSelectIteration": str(s["gdpp"]["select_iteration"]),
    }
    tasks = list(info["titles"])
    v["ProbeTasksText"] = "; ".join(
        f"{info['titles'][t]} ({', '.join(info['labels'][m] for m in info['models'][t])})" for t in tasks) or "none"
    skipped = [f"{info['labels'][m]} on {info['titles'][t]}" for t in tasks for m in info["skipped"][t]]
    v["ProbeSkippedText"] = ", ".join(skipped) if skipped else "none"
    v["ProbeDataText"] = "; ".join(f"{info['titles'][t]}: {info['data'][t]}" for t in tasks) or "none"
    if summary_csv:
        df = pd.read_csv(summary_csv)
        for (task, model), d in df.groupby(["task", "model"], sort=False):
            f = plot_scale(s["gd_scale"], int(d.n_dims.iloc[0]), "probe")
            first, last = d.iloc[0], d.iloc[-1]
            v[macro_name("Probe", task, model, "first")] = format_number(first["probe_mse"] * f)
            v[macro_name("Probe", task, model, "last")] = format_number(last["probe_mse"] * f)
            v[macro_name("Probe", task, model, "raw", "last")] = format_number(last["raw_mse"] * f)
            v[macro_name("Probe", task, model, "scale", "last")] = format_number(last["scale"])
            v[macro_name("Probe", task, model, "shift", "last")] = format_number(last["shift"])  # not .shift
    gd_tasks = []
    if gd_csv:
        gd = pd.read_csv(gd_csv)
        for task, d in gd.groupby("task", sort=False):
            gd_tasks.append(task)
            f = plot_scale(s["gd_scale"], int(d.n_dims.iloc[0]), "gd")
            for method, dm in d.groupby("method"):
                v[macro_name("Probe", task, method, "last")] = format_number(dm.mse.iloc[-1] * f)
            gamma = float(d[d.method == "gdpp"].gamma.iloc[0])
            v[macro_name("Probe", task, "gdpp", "gamma")] = f"{gamma:.2e}"
    v["ProbeGdTasksText"] = ", ".join(info["titles"][t] for t in gd_tasks) or "none"
    if gd_tasks:
        d = pd.read_csv(gd_csv)
        d = d[(d.task == gd_tasks[0]) & (d.method == "gdpp")]
        v["ProbeGammaSelected"] = f"{float(d.gamma.iloc[0]):.2e}"
    text = macros_tex(v)
    text += "\\newif\\ifProbing\n" + ("\\Probingtrue\n" if tasks else "")
    text += "\\newif\\ifProbingGd\n" + ("\\ProbingGdtrue\n" if gd_tasks else "")
    Path(out_tex).write_text(text)
