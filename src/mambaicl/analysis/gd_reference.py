"""Gradient-descent references for the probing figures (spec 6.7, 11.1): GD and GD++ iterates on a
prompt's context examples, iterate t drawn at relative depth t / (iterations - 1).

GD++ comes in two variants (``probing.gdpp.variant``):

- ``static`` (default, as released by Grazzi et al., spec 11.1): H = I - gamma X^T X is computed once from
  the untransformed context X; context and query inputs are transformed once by H, and plain GD runs on the
  transformed inputs with the step 2 / (L + mu) of the *untransformed* X^T X / n.
- ``compounding`` (von Oswald et al. 2023): every iteration transforms all inputs by I - gamma X^T X of the
  current, already transformed, context. A different algorithm, kept as an option only.

gamma is fixed (default 1.939212572065831e-4, the release's value) or ``search``: the release's (disabled)
grid search, gamma on a log grid (10^linspace(-6, -3, 300)), lowest mean query MSE at ``select_iteration``.

Numbers are stored raw (query MSE); ``mambaicl.report.labels.plot_scale`` maps them to what figures and
macros show (``gd_scale``: per_dim = MSE / D for every curve; released = probe raw and GD as the release
logs it, 0.5 * MSE * 2/D = MSE / D, the release's mismatch, defect D13).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..evaluation.prompt_sets import load_prompt_set
from ..evaluation.stats import bootstrap_mean_ci
from .probing import relative_depth


def gd_step_sizes(xs: np.ndarray) -> np.ndarray:
    """(B, n, D) -> (B,): 2 / (lambda_max + lambda_min) of X^T X / n, the optimal constant GD step."""
    xs = np.asarray(xs, np.float64)
    eig = np.linalg.eigvalsh(np.einsum("bnd,bne->bde", xs, xs) / xs.shape[1])
    return 2.0 / (eig[:, -1] + eig[:, 0])


def gd_iterates(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, n_iter: int, gamma: float = 0.0,
                step: np.ndarray | None = None) -> np.ndarray:
    """Query predictions of GD (gamma = 0) or compounding GD++ iterates t = 0 .. n_iter-1, (n_iter, B, Q).

    xs (B, n, D), ys (B, n): the context; xq (B, Q, D): the queries. Least squares
    L(w) = ||X w - y||^2 / (2n) from w = 0 (iterate 0 is the zero predictor), step ``step`` (default
    ``gd_step_sizes``). Written in token space as in von Oswald et al. 2023: each iteration adds
    (eta/n) sum_i r_i x_i^T x_j to every prediction (r the context residuals), which for gamma = 0 is
    w <- w - eta grad L(w); compounding GD++ (gamma > 0) also transforms every input, context and query,
    by H = I - gamma X^T X of the current context after each step, both updates computed from the same
    inputs. The released static GD++ is ``gdpp_iterates``.
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


def gdpp_preconditioner(xs: np.ndarray, gamma: float) -> np.ndarray:
    """(B, n, D) -> (B, D, D): H = I - gamma X^T X of each (untransformed) context, spec 11.1."""
    xs = np.asarray(xs, np.float64)
    return np.eye(xs.shape[-1]) - gamma * np.einsum("bnd,bne->bde", xs, xs)


def gdpp_iterates(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, n_iter: int, gamma: float,
                  variant: str = "static") -> np.ndarray:
    """Query predictions of GD++ iterates t = 0 .. n_iter-1, shape (n_iter, B, Q), per ``variant``
    (module docstring). For gamma = 0 both variants are plain GD."""
    if variant == "compounding":
        return gd_iterates(xs, ys, xq, n_iter, gamma)
    if variant != "static":
        raise ValueError(f"GD++ variant must be static or compounding; got {variant!r}")
    x = np.asarray(xs, np.float64)
    h = gdpp_preconditioner(x, gamma)  # symmetric
    return gd_iterates(x @ h, ys, np.asarray(xq, np.float64) @ h, n_iter, step=gd_step_sizes(x))


def gd_query_mse(xs: np.ndarray, ys: np.ndarray, n_context: int, n_iter: int, gamma: float = 0.0,
                 variant: str = "static") -> np.ndarray:
    """(n_iter, B): per-prompt MSE over the queries of GD (gamma = 0) or GD++ run on the first ``n_context``
    examples."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    preds = gdpp_iterates(xs[:, :n_context], ys[:, :n_context], xs[:, n_context:], n_iter, gamma, variant)
    return ((preds - ys[None, :, n_context:]) ** 2).mean(-1)


def gamma_grid(gdpp: dict) -> np.ndarray:
    """The search grid: 10^linspace(log10 gamma_min, log10 gamma_max, n_gammas) (release: -6, -3, 300)."""
    return 10.0 ** np.linspace(np.log10(gdpp["gamma_min"]), np.log10(gdpp["gamma_max"]), gdpp["n_gammas"])


def select_gamma(xs: np.ndarray, ys: np.ndarray, n_context: int, gammas: np.ndarray, select_iteration: int,
                 variant: str = "static") -> tuple[float, pd.DataFrame]:
    """The GD++ gamma of the grid with the lowest mean query MSE at iterate ``select_iteration``."""
    losses = []
    for gamma in tqdm(gammas, desc="GD++ gamma grid", mininterval=5):
        with np.errstate(over="ignore", invalid="ignore"):
            mse = gd_query_mse(xs, ys, n_context, select_iteration + 1, float(gamma), variant)[-1].mean()
        losses.append(mse if np.isfinite(mse) else np.inf)
    search = pd.DataFrame({"gamma": gammas, "query_mse": losses, "iteration": select_iteration})
    return float(gammas[int(np.argmin(losses))]), search


def gdpp_gamma(xs: np.ndarray, ys: np.ndarray, settings: dict) -> tuple[float, pd.DataFrame]:
    """GD++ gamma for one task's prompts and the table that says where it came from: the grid search
    (``gdpp.gamma: search``) or one row with the fixed gamma and its query MSE at the last iterate."""
    g, n_context = settings["gdpp"], settings["n_context"]
    if g["gamma"] == "search":
        gamma, search = select_gamma(xs, ys, n_context, gamma_grid(g), g["select_iteration"], g["variant"])
        return gamma, search.assign(selected=search.gamma == gamma, source="search")
    gamma, last = float(g["gamma"]), settings["gd_iterations"] - 1
    mse = gd_query_mse(xs, ys, n_context, last + 1, gamma, g["variant"])[-1].mean()
    return gamma, pd.DataFrame({"gamma": [gamma], "query_mse": [mse], "iteration": [last], "selected": [True],
                                "source": ["fixed"]})


# --------------------------------------------------------------------------------------------
# Workflow job (workflow/scripts/probe_gd_reference.py)


def gd_reference_job(prompts: dict[str, list[str]], settings: dict, out_csv: str, out_search_csv: str) -> None:
    """GD and GD++ query MSE per iterate (mean over prompts, bootstrap CI) for each task in ``prompts``
    (task -> [npz, json]), and the table of the GD++ gamma (the grid search, or the one fixed gamma)."""
    n_context, n_iter, variant = settings["n_context"], settings["gd_iterations"], settings["gdpp"]["variant"]
    boot = settings["bootstrap"]
    frames, searches = [], []
    for task, (npz, meta) in prompts.items():
        ps = load_prompt_set(npz, meta)
        xs, ys = ps.prompts.xs.double().numpy(), ps.prompts.ys.double().numpy()
        gamma, search = gdpp_gamma(xs, ys, settings)
        searches.append(search.assign(task=task, variant=variant))
        for method, gm in (("gd", 0.0), ("gdpp", gamma)):
            mse = gd_query_mse(xs, ys, n_context, n_iter, gm, variant).T  # (B, n_iter)
            rng = np.random.default_rng(boot["seed"])
            mean, low, high = bootstrap_mean_ci(mse, boot["n_resamples"], boot["ci"], rng)
            frames.append(pd.DataFrame({"task": task, "method": method, "iterate": np.arange(n_iter),
                                        "relative_depth": relative_depth(n_iter), "mse": mean, "mse_ci_low": low,
                                        "mse_ci_high": high, "gamma": gm, "variant": variant if gm else "",
                                        "n_dims": xs.shape[-1], "n_prompts": xs.shape[0]}))
        print(f"{task}: GD++ ({variant}) gamma {gamma:.4g} ({search.source.iloc[0]}); query MSE after {n_iter - 1} "
              f"steps: GD {frames[-2].mse.iloc[-1]:.4g}, GD++ {frames[-1].mse.iloc[-1]:.4g}")
    cols = ["task", "method", "iterate", "relative_depth", "mse", "mse_ci_low", "mse_ci_high", "gamma", "variant",
            "n_dims", "n_prompts"]
    (pd.concat(frames) if frames else pd.DataFrame(columns=cols)).to_csv(out_csv, index=False)
    search_cols = ["gamma", "query_mse", "iteration", "selected", "source", "task", "variant"]
    (pd.concat(searches) if searches else pd.DataFrame(columns=search_cols)).to_csv(out_search_csv, index=False)
