"""Layer-by-layer logit-lens probing (Grazzi et al. 2024; spec section 6).

For a trained model and a probed task:

1. Prompts: ``n_prompts`` tasks of ``n_points`` points. Each probed sequence is the first ``n_context``
   examples plus one query, the queries being the remaining points appended one at a time.
2. Logit lens: the residual stream after every block, read at x-token positions through the model's
   own final norm and read-out head (``decode_layers``): one scalar per block and position.
3. Affine probe: per prompt and block, (scale, shift) fit by least squares on the context positions
   ``fit_positions`` (0-based, inclusive), scored as the MSE over the queries. The raw variant is the
   decoded value's MSE without the fit.
4. References (linear regression): gradient descent and GD++ iterates on the same context examples
   (``mambaicl.analysis.gd_reference``).

Numbers are stored raw (squared error, not divided by anything); ``mambaicl.report.labels.plot_scale`` maps them
to what figures and macros show. The ``probing`` config section: ``mambaicl.analysis.probe_config``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..evaluation.prompt_sets import load_prompt_set
from ..evaluation.stats import bootstrap_mean_ci
from ..runtime import configure_torch, resolve_device
from ..tasks import PromptBatch, task_from_spec
from ..training.checkpoints import load_trained_model


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
# Workflow jobs (workflow/scripts/probe_model.py, probe_aggregate.py)


def probe_model_job(task: str, model_name: str, seed: int, model_path: str, prompts_npz: str, prompts_meta: str,
                    settings: dict, device: str, threads: int, out_csv: str) -> None:
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
