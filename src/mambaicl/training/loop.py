"""Training on freshly sampled prompts, with the curriculum, checkpoints and exact resume.

State saved every ``checkpoint_every`` steps: model, optimiser, scheduler, step and the data
generator's state; the curriculum is a function of the step. Resuming therefore replays the same
batches, so on CPU a resumed run ends with the same weights as an uninterrupted one, provided it
runs under the same thread count, torch version and device type (checked, see ``provenance``).
Checkpoints are written in the background (``checkpoints.BackgroundSaver``: a snapshot on the host, then torch.save
and fsync on a thread) while training goes on; ``model.pt`` is written once the last checkpoint is on disk.
Once ``model.pt`` and the metrics are written the checkpoint is removed: a forced rerun trains afresh.
"""

from __future__ import annotations

import csv
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..config import spec_hash
from ..errors import ConfigError, MambaICLError
from ..models import ICLModel, build_model
from ..models.mamba import log_scan_implementation, set_scan
from ..models.base import DropoutAhead, set_dropout_generator
from ..models.fused_ops import fuse_for_device, log_fused_ops
from ..tasks import Task, task_from_spec
from .checkpoints import BackgroundSaver, atomic_save, load_checkpoint
from .compile import begin_step, compile_step, curriculum_shapes, describe_compile
from .curriculum import Curriculum
from .integrity import sidecar
from .provenance import check_resumable, provenance


class NonFiniteLossError(MambaICLError):
    pass


def _make_optimizer(model: ICLModel, spec: dict, steps: int):
    # On CUDA, Adam's fused kernel: one launch per step for all parameters instead of a few per tensor
    # (the same update within float rounding); the CPU keeps the default implementation, bit for bit.
    fused = next(model.parameters()).is_cuda
    opt = torch.optim.Adam(model.parameters(), lr=spec["model"]["learning_rate"], betas=(0.9, 0.999),
                           fused=fused or None)
    if spec["schedule"] == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=0.0)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return opt, sched


# ---- one run's parts and files: shared by ``train`` and ``training.pack`` (one definition each) --------------


@dataclass
class RunParts:
    """What one training run holds: its task, model, Adam and schedule, and its own data and dropout generators."""

    spec: dict
    task: Task
    model: ICLModel
    opt: torch.optim.Optimizer
    sched: object
    data_gen: torch.Generator
    dropout_gen: torch.Generator


def set_up_model(model: ICLModel, device: torch.device, scan: str = "auto", log: bool = True) -> ICLModel:
    """The scan choice (``set_scan``) and the device's fused ops on ``model``; with ``log``, the job's log says which
    kernels and fused ops run."""
    set_scan(model, scan, device)
    if log:
        log_scan_implementation(model, device)
        log_fused_ops(model, device)  # fuses, then says what it switched
    else:
        fuse_for_device(model, device)
    return model


def build_run(spec: dict, device: torch.device, scan: str = "auto", log: bool = True) -> RunParts:
    """A run as the trainer starts it: the model from ``spec["seed"]``, the scan choice (``set_scan``; logged with
    ``log``), the device's fused ops, Adam, and the generators seeded 10_000 + seed (data) and 20_000 + seed
    (dropout), on the training device so that sampling stays there."""
    task = task_from_spec(spec["task"])
    model = build_model(spec["model"], task.token_dim, seed=spec["seed"], out_dim=task.out_dim).to(device)
    set_up_model(model, device, scan, log)
    opt, sched = _make_optimizer(model, spec, spec["steps"])
    data_gen = torch.Generator(device=device).manual_seed(10_000 + spec["seed"])
    dropout_gen = torch.Generator(device=device).manual_seed(20_000 + spec["seed"])
    set_dropout_generator(model, dropout_gen)
    return RunParts(spec, task, model, opt, sched, data_gen, dropout_gen)


def resume_run(run: RunParts, ckpt_path: Path, spec_h: str, device: torch.device) -> tuple[int, float]:
    """Load ``run``'s state from its checkpoint when there is one (refused if another spec or host wrote it);
    returns (step, elapsed seconds) to go on from, (0, 0.0) without a checkpoint."""
    if not ckpt_path.exists():
        return 0, 0.0
    state = load_checkpoint(ckpt_path, expected_hash=spec_h, map_location=device)
    check_resumable(state, ckpt_path, device)
    run.model.load_state_dict(state["model"])
    run.opt.load_state_dict(state["optimizer"])
    run.sched.load_state_dict(state["scheduler"])
    run.data_gen.set_state(state["data_generator"].cpu())  # generator states are CPU byte tensors
    run.dropout_gen.set_state(state["dropout_generator"].cpu())
    return state["step"], state.get("elapsed_s", 0.0)


def owned_state(model: torch.nn.Module) -> dict:
    """``model.state_dict()`` with every tensor owning its storage: in a pack the parameters are views into the
    pack's stacked leaves, and ``torch.save`` writes a view's whole storage (all K runs). Unpacked: as it is."""
    state = model.state_dict()  # an OrderedDict carrying the modules' _metadata (versions): kept as it is
    for key, value in state.items():
        if value.untyped_storage().nbytes() != value.nbytes:
            state[key] = value.clone()
    return state


def checkpoint_dict(run: RunParts, spec_h: str, step: int, elapsed: float, prov: dict) -> dict:
    """The resume state ``last.pt`` holds after ``step`` steps."""
    return {"spec": run.spec, "spec_hash": spec_h, "step": step, "model": owned_state(run.model),
            "optimizer": run.opt.state_dict(), "scheduler": run.sched.state_dict(),
            "data_generator": run.data_gen.get_state(), "dropout_generator": run.dropout_gen.get_state(),
            "elapsed_s": elapsed, "provenance": prov}


def model_dict(run: RunParts, spec_h: str, train_seconds: float, device: torch.device, prov: dict) -> dict:
    """The finished run's ``model.pt``."""
    return {"spec": run.spec, "spec_hash": spec_h, "step": run.spec["steps"], "model": owned_state(run.model),
            "effective_parameters": run.model.effective_parameters(), "train_seconds": train_seconds,
            "device": str(device), "provenance": prov}


def precision_autocast(spec: dict, device: torch.device) -> torch.autocast:
    """The forward's autocast context: bf16 autocast is a documented option for the GPU only (spec 4: the papers
    train in fp32, and Mamba is known to give NaNs under mixed precision); fp32 (disabled) by default."""
    bf16 = spec.get("precision", "fp32") == "bf16"
    if bf16 and device.type != "cuda":
        raise ValueError("train.precision = bf16 needs a CUDA device; use fp32 on CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def forward_loss_fn(run: RunParts, device: torch.device):
    """The training step's forward and loss on a batch, under the run's precision: what ``train.compile``
    compiles (``compile.compile_step``); the benchmarks time the same function."""
    autocast = precision_autocast(run.spec, device)
    model, task = run.model, run.task

    def forward_loss(batch: dict) -> torch.Tensor:
        with autocast:
            preds = model.predict(task, batch)
        return task.loss(preds.float(), batch)

    return forward_loss


def non_finite_error(loss: float, step: int, ckpt_path: Path, ckpt_dir: Path, where: str = "",
                     saver: BackgroundSaver | None = None) -> NonFiniteLossError:
    """The error a run stops with at its first non-finite loss (``where``: e.g. which run of a pack). With ``saver``,
    its pending write ends first, so that the message says truly whether the last good checkpoint is on disk; a
    failed write becomes the error's cause."""
    cause = None
    if saver is not None:
        try:
            saver.wait()
        except MambaICLError as e:
            cause = e
    error = NonFiniteLossError(
        f"non-finite training loss {loss} at step {step}{where}; the last good checkpoint "
        f"({ckpt_path if ckpt_path.exists() else 'none yet'}) is kept. Lower the learning "
        f"rate or enable train.grad_clip; a changed config cannot resume that checkpoint, so "
        f"then delete the checkpoint directory {ckpt_dir} and rerun the rule.")
    if cause is not None:
        error.__cause__ = cause
    return error


def train(
    spec: dict,
    model_path: str | Path,
    metrics_path: str | Path,
    checkpoint_dir: str | Path,
    device: torch.device | str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
    scan: str = "auto",
    compile_mode: str = "eager",
) -> ICLModel:
    """Train per ``spec`` (see ``config.train_spec``); write final weights and a metrics CSV.

    ``stop_after`` ends the run early after that many steps (used to test resume). ``scan`` is the config's
    implementation choice for Mamba and RWKV blocks (``models.mamba.resolve_scan``), ``compile_mode``
    its ``train.compile`` (``training.compile``); neither is part of the spec, like the device.
    """
    device = torch.device(device)
    h = spec_hash(spec)
    model_path, metrics_path, ckpt_dir = Path(model_path), Path(metrics_path), Path(checkpoint_dir)
    ckpt_path = ckpt_dir / "last.pt"
    steps = spec["steps"]

    curriculum = Curriculum.from_dict(spec["curriculum"])
    run_parts = build_run(spec, device, scan)
    task, model, opt, sched = run_parts.task, run_parts.model, run_parts.opt, run_parts.sched
    data_gen = run_parts.data_gen

    start, elapsed = resume_run(run_parts, ckpt_path, h, device)
    if start:
        print(f"resuming from {ckpt_path} at step {start} of {steps}")
    else:
        print(f"starting at step 0 of {steps}")
    run = provenance(device)
    work_metrics = ckpt_dir / "train_metrics.csv"  # undeclared: survives a failed job, like the checkpoint
    _truncate_metrics(work_metrics, start)

    shapes = curriculum_shapes(curriculum, steps)
    forward_loss = compile_step(forward_loss_fn(run_parts, device), compile_mode, device, shapes)
    print(describe_compile(compile_mode, shapes))
    # compiled: dropout masks drawn before each step, not inside the graph (models.base.DropoutAhead)
    ahead = DropoutAhead(model, device) if compile_mode != "eager" else None
    end = steps if stop_after is None else min(steps, start + stop_after)
    model.train()
    log_every = spec["log_every"]
    t0 = time.perf_counter()
    bar = tqdm(range(start, end), initial=start, total=steps, disable=not progress, desc="train",
               mininterval=2.0, dynamic_ncols=True)
    # The non-finite check stays on the device (reading the loss every step would stall a GPU until it
    # catches up): the first bad step and its loss are kept there, and read wherever the host syncs anyway
    # (the logging step) and before every checkpoint and the final weights, so nothing non-finite is saved.
    bad_step = torch.full((), -1, dtype=torch.long, device=device)
    bad_loss = torch.zeros((), device=device)

    def check_finite() -> None:
        first = int(bad_step)
        if first >= 0:
            raise non_finite_error(float(bad_loss), first, ckpt_path, ckpt_dir, saver=saver)

    # Leaving the ``with`` waits for the last checkpoint write: model.pt and the removal come after it.
    with BackgroundSaver() as saver, open(work_metrics, "a", newline="") as mf:
        writer = csv.writer(mf)
        if start == 0:
            writer.writerow(["step", "loss", "n_dims_active", "n_points", "lr", "elapsed_s"])
        for step in bar:
            n_dims, n_points = curriculum.at(step)
            batch = task.sample(spec["batch_size"], n_points, data_gen, n_dims_active=n_dims)
            if ahead:
                ahead(spec["batch_size"])
            begin_step(compile_mode)
            loss = forward_loss(batch)
            newly_bad = ~torch.isfinite(loss.detach()) & (bad_step < 0)
            bad_step = torch.where(newly_bad, step, bad_step)
            bad_loss = torch.where(newly_bad, loss.detach(), bad_loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if spec.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec["grad_clip"])
            lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
            done = step + 1
            if step % log_every == 0 or done == steps:
                check_finite()
                value = loss.item()
                now = elapsed + time.perf_counter() - t0
                writer.writerow([step, value, n_dims, n_points, lr, round(now, 3)])
                mf.flush()
                bar.set_postfix(loss=f"{value:.4f}", dims=n_dims, points=n_points)
            if done % spec["checkpoint_every"] == 0 or done == end:
                check_finite()
                mf.flush()
                saver.save(checkpoint_dict(run_parts, h, done, elapsed + time.perf_counter() - t0, run), ckpt_path)
    bar.close()
    if ahead:
        ahead.close()
    if end == steps:
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work_metrics, metrics_path)
        atomic_save(model_dict(run_parts, h, elapsed + time.perf_counter() - t0, device, run), model_path)
        _remove_checkpoint(ckpt_dir, work_metrics)
    return model


def _remove_checkpoint(ckpt_dir: Path, work_metrics: Path) -> None:
    """After model.pt and the metrics are written, drop the resume state so a rerun starts at step 0."""
    ckpt = ckpt_dir / "last.pt"
    for p in (ckpt, sidecar(ckpt), work_metrics):
        p.unlink(missing_ok=True)
    try:
        ckpt_dir.rmdir()
    except OSError:  # not empty: files that are not ours stay
        pass


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop metric rows logged after the checkpoint so the CSV has no duplicates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if step == 0 or not path.exists():
        path.unlink(missing_ok=True)
        return
    with open(path) as f:
        rows = list(csv.reader(f))
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) < step]
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(keep)


def check_config(config: dict) -> None:
    """The training section's cross-field checks: bf16 autocast, CUDA graphs and mamba-ssm's kernels exist only on
    CUDA (whether a requested scan or compile mode can run on this host is ``validation.check_host``'s question);
    ``train.pack`` (``pack_plan.check_pack_config``)."""
    if config["device"] == "cpu" and config["train"].get("precision") == "bf16":
        raise ConfigError("config error: 'train.precision' = bf16 needs a CUDA GPU, but 'device' is cpu; use fp32")
    if config["device"] == "cpu" and config["train"].get("compile") == "graphs":
        raise ConfigError("config error: 'train.compile' = graphs replays CUDA graphs and needs a CUDA GPU, but "
                          "'device' is cpu; use train.compile: fused (or eager)")
    if config["device"] == "cpu" and config.get("scan") == "kernels":
        raise ConfigError("config error: 'scan' = kernels needs a CUDA GPU (mamba-ssm's kernels), but 'device' is "
                          "cpu; use scan: auto or scan: torch")
    from .pack_plan import check_pack_config  # here: pack_plan imports the config package, as this module

    check_pack_config(config)
