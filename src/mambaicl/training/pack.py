"""Training K runs of one model shape in one process, one vmapped forward per step ("packing", ``train.pack``).

Design (issue 16, item 2):

- Each run keeps everything it has when trained alone (``loop.train``): its own ``ICLModel`` (the parameter
  leaves), Adam and learning-rate schedule, data generator (seed 10_000 + seed), dropout generator (20_000 +
  seed), metrics CSV, checkpoint ``last.pt`` (same keys and spec hash) and ``model.pt``. A pack writes exactly
  the files the K separate jobs would, where they would; a run checkpointed in a pack resumes alone and back.
- One step: each run samples its batch from its own generator (the curriculum is shared, so the shapes agree);
  the K runs' parameters live in stacked leaves (``PackedStep``: each run's parameter a view of its slice, so no
  stack per tensor and step; each run's gradient is its slice of the leaf's); one
  ``torch.func.vmap`` of ``functional_call`` on a template model runs the K forwards as batched matmuls,
  attention, FFT convolutions and norms; the loss is the sum of the K runs' losses, so one backward gives each
  run exactly the gradient of its own loss; then K optimiser steps (each run's own Adam, as unpacked).
- The custom autograd Functions get vmap rules in ``models.packing``: RWKV's WKV, and Mamba's scan on the Triton
  path and on mamba-ssm's kernels (with causal-conv1d), run once per layer for all K runs, folded into the
  channels (B, C grouped per run: ``fold_runs``); the CPU path's Mamba scan runs once per run (``per_run``). All
  exact; S4's channel dropout draws each run's masks from that run's generator (``stacked_uniform``).
- A pack of 1 is ``loop.train`` itself, so its results are bit-identical to an unpacked run. A pack of K equals
  the K separate runs within fp32 rounding (batched kernels sum in another order), not bit for bit.
- Resume: every run resumes from its own checkpoint. Runs found at different steps (a job killed while writing
  the K checkpoints) are brought level first, the ones behind trained as a smaller pack, then all continue.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch.func import functional_call, vmap
from tqdm import tqdm

from ..config import spec_hash
from ..models import ICLModel, build_model
from ..models.base import DropoutAhead
from ..models.packing import run_index_scope, set_pack_dropout_generators
from ..tasks import Task
from .checkpoints import BackgroundSaver, atomic_save
from .compile import begin_step, compile_step, curriculum_shapes, describe_compile
from .curriculum import Curriculum
from .loop import (RunParts, _remove_checkpoint, _truncate_metrics, build_run, checkpoint_dict, model_dict,
                   non_finite_error, precision_autocast, resume_run, set_up_model, train)
from .pack_plan import check_packable
from .provenance import provenance


@dataclass
class _Run(RunParts):
    """One run of a pack: what ``loop.train`` holds for it (``RunParts``), plus its files, spec hash (computed
    once), step, non-finite flags and metrics writer."""

    model_path: Path = None
    metrics_path: Path = None
    ckpt_dir: Path = None
    hash: str = ""
    step: int = 0
    elapsed: float = 0.0
    writer: object = None
    metrics_file: object = None
    bad_step: torch.Tensor | None = None
    bad_loss: torch.Tensor | None = None

    @property
    def ckpt_path(self) -> Path:
        return self.ckpt_dir / "last.pt"

    @property
    def work_metrics(self) -> Path:
        return self.ckpt_dir / "train_metrics.csv"

    @property
    def name(self) -> str:
        return f"{self.spec['task']['name']}/{self.spec['model']['backbone']}/seed{self.spec['seed']}"


def _open_run(spec: dict, model_path, metrics_path, ckpt_dir, device: torch.device, scan: str) -> _Run:
    """Build one run as ``loop.train`` does (``loop.build_run``), resumed from its checkpoint if any."""
    parts = build_run(spec, device, scan, log=False)  # the template logs the pack's implementation once
    run = _Run(**{f.name: getattr(parts, f.name) for f in fields(RunParts)}, model_path=Path(model_path),
               metrics_path=Path(metrics_path), ckpt_dir=Path(ckpt_dir), hash=spec_hash(spec))
    run.step, run.elapsed = resume_run(run, run.ckpt_path, run.hash, device)
    run.bad_step = torch.full((), -1, dtype=torch.long, device=device)
    run.bad_loss = torch.zeros((), device=device)
    return run


def pack_template(spec: dict, task: Task, device: torch.device, scan: str = "auto", log: bool = True) -> ICLModel:
    """The model whose modules run every packed forward (``functional_call`` swaps in the stacked parameters),
    set up as the runs' models are; with ``log``, it says in the job's log which kernels and fused ops run."""
    template = build_model(spec["model"], task.token_dim, seed=spec["seed"], out_dim=task.out_dim).to(device)
    return set_up_model(template, device, scan, log).train()


class PackedStep:
    """One training step of K runs of one shape, the pack's only code path (``train_pack`` and the benchmarks):
    each run samples its batch from its own generator, the K runs' parameters are slices of stacked leaves, one
    vmapped forward, the sum of the K losses backward, then per run its gradient clip, Adam step and scheduler.

    ``step(n_dims, n_points)`` returns the K losses (a detached (K,) tensor on the device) and the learning rate
    each run stepped with. Nothing inside reads a tensor on the host: the non-finite check is the caller's.
    ``compile_mode`` (``train.compile``) compiles the vmapped forward with the K predictions and losses."""

    def __init__(self, runs: Sequence[RunParts], template: ICLModel, device: torch.device | str,
                 compile_mode: str = "eager"):
        self.runs, self.template, self.device = list(runs), template, torch.device(device)
        self.compile_mode = compile_mode
        self.autocast = precision_autocast(self.runs[0].spec, self.device)
        # The K runs' parameters live in stacked leaves (K, *shape), one per name, and each run's Parameter is a view
        # of its slice (Parameter.data): the vmapped forward reads the leaves without a stack kernel per tensor and
        # step, and each run's own Adam updates its slice in place. Buffers (few, never trained) are stacked per step
        # as they are.
        self.params = [dict(r.model.named_parameters()) for r in self.runs]
        self.leaves = {}
        for name, first in self.params[0].items():
            leaf = torch.stack([p[name].detach() for p in self.params]).requires_grad_(first.requires_grad)
            for i, p in enumerate(self.params):
                p[name].data = leaf.detach()[i]
            self.leaves[name] = leaf
        self.buffers = [dict(r.model.named_buffers()) for r in self.runs]
        set_pack_dropout_generators(template, [r.dropout_gen for r in self.runs])
        # compiled: the K runs' dropout masks drawn before the step, not inside the graph (models.base.DropoutAhead)
        self.ahead = DropoutAhead(template, self.device) if compile_mode != "eager" else None
        self.run_index = torch.arange(len(self.runs), device=self.device)

        def forward(state: dict, tokens: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
            with run_index_scope(index):
                return functional_call(template, state, (tokens,))

        self.packed_forward = vmap(forward, randomness="same")  # "same": the dropout draws are per run by construction
        first = self.runs[0].spec
        self.shapes = curriculum_shapes(Curriculum.from_dict(first["curriculum"]), first["steps"])
        if compile_mode != "eager":  # the leaves keep their storage (Adam steps in place): CUDA graphs read them
            for leaf in self.leaves.values():  # where they are instead of copying K models into a buffer each step
                torch._dynamo.mark_static_address(leaf)
        self.packed_losses = compile_step(self._packed_losses, compile_mode, self.device, self.shapes)

    def _packed_losses(self, state: dict, tokens: torch.Tensor, batches: list[dict]) -> torch.Tensor:
        """The K runs' losses (K,) from the stacked parameters and tokens (K, B, T, token_dim)."""
        runs = self.runs
        with self.autocast:
            out = self.packed_forward(state, tokens, self.run_index)  # (K, B, T, out_dim)
            # unbind, not out[i]: its backward is one stack of the K gradients, where K selects' would each
            # fill a zero (K, B, T, out_dim) tensor, copy into it and add (3K kernels, K^2 memory traffic)
            preds = [r.task.predictions(o, b) for o, r, b in zip(out.unbind(0), runs, batches)]
        return torch.stack([r.task.loss(p.float(), b) for r, p, b in zip(runs, preds, batches)])

    def __call__(self, n_dims: int, n_points: int) -> tuple[torch.Tensor, list[float]]:
        runs = self.runs
        batches = [r.task.sample(r.spec["batch_size"], n_points, r.data_gen, n_dims_active=n_dims) for r in runs]
        state = self.leaves | {n: torch.stack([b[n] for b in self.buffers]) for n in self.buffers[0]}  # (K, *shape)
        with self.autocast:
            tokens = [r.task.tokens(b) for r, b in zip(runs, batches)]
            if len({t.shape for t in tokens}) > 1:
                raise ValueError(f"packed runs give token sequences of different shapes {[t.shape for t in tokens]}; "
                                 "their tasks do not share a token layout (train.pack groups them wrongly)")
            tokens = torch.stack(tokens)
        if self.ahead:
            self.ahead(tokens.shape[1])
        begin_step(self.compile_mode)
        losses = self.packed_losses(state, tokens, batches)  # (K,)
        for leaf in self.leaves.values():
            leaf.grad = None
        losses.sum().backward()  # d(sum)/d(loss_r) = 1: each run gets its own loss's gradient
        for name, leaf in self.leaves.items():  # each run's gradient: its slice of the leaf's (a view, no copy)
            for i, p in enumerate(self.params):
                p[name].grad = None if leaf.grad is None else leaf.grad[i]
        lrs = []
        for r in runs:
            if r.spec.get("grad_clip"):
                torch.nn.utils.clip_grad_norm_(r.model.parameters(), r.spec["grad_clip"])
            lrs.append(r.opt.param_groups[0]["lr"])
            r.opt.step()
            r.sched.step()
        return losses.detach().clone(), lrs  # a copy: a CUDA graph's next replay overwrites its output

    def close(self) -> None:
        """Give the template back its unpacked dropout (no per-run generators, masks drawn in the forward)."""
        set_pack_dropout_generators(self.template, None)
        if self.ahead:
            self.ahead.close()


def open_pack(specs: list[dict], device: torch.device | str, scan: str = "auto", log: bool = False,
              compile_mode: str = "eager") -> PackedStep:
    """K runs of ``specs`` built as the trainer builds them (seeds, optimisers, generators, scan, compile), as one
    ``PackedStep``, writing no files: what a benchmark times. Refuses specs that cannot share a pack."""
    check_packable(specs)
    device = torch.device(device)
    runs = [build_run(s, device, scan, log=False) for s in specs]
    for r in runs:
        r.model.train()
    return PackedStep(runs, pack_template(specs[0], runs[0].task, device, scan, log=log), device, compile_mode)


def train_pack(
    specs: list[dict],
    model_paths: list,
    metrics_paths: list,
    checkpoint_dirs: list,
    device: torch.device | str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
    scan: str = "auto",
    compile_mode: str = "eager",
) -> list[ICLModel]:
    """Train the runs ``specs`` as one pack (see the module doc); write each run's ``model.pt`` and metrics CSV
    where ``loop.train`` would. ``stop_after`` ends the pack that many steps after its earliest run's start."""
    if not (len(specs) == len(model_paths) == len(metrics_paths) == len(checkpoint_dirs)) or not specs:
        raise ValueError("train_pack needs one model path, metrics path and checkpoint directory per spec")
    if len(specs) == 1:  # today's code path: bit-identical to an unpacked run
        return [train(specs[0], model_paths[0], metrics_paths[0], checkpoint_dirs[0], device=device,
                      progress=progress, stop_after=stop_after, scan=scan, compile_mode=compile_mode)]
    check_packable(specs)
    device = torch.device(device)
    runs = [_open_run(*args, device, scan) for args in zip(specs, model_paths, metrics_paths, checkpoint_dirs)]
    first = runs[0]
    template = pack_template(first.spec, first.task, device, scan)
    print(describe_compile(compile_mode, curriculum_shapes(Curriculum.from_dict(first.spec["curriculum"]),
                                                           first.spec["steps"])))
    for r in runs:
        r.model.train()
        print(f"pack run {r.name} (spec {r.hash}, lr {r.spec['model']['learning_rate']}): "
              + (f"resuming from {r.ckpt_path} at step {r.step}" if r.step else "starting at step 0"))

    steps = first.spec["steps"]
    precision_autocast(first.spec, device)  # bf16 on a CPU: refused before any file is touched
    start = min(r.step for r in runs)
    end = steps if stop_after is None else min(steps, start + stop_after)
    prov = provenance(device)
    t0 = time.perf_counter()
    bar = tqdm(total=steps, initial=start, disable=not progress, desc=f"train pack of {len(runs)}",
               mininterval=2.0, dynamic_ncols=True)
    with ExitStack() as files:  # on leaving: the metrics files close, then the last checkpoint write ends (saver)
        saver = files.enter_context(BackgroundSaver())
        for r in runs:
            _truncate_metrics(r.work_metrics, r.step)
            r.metrics_file = files.enter_context(open(r.work_metrics, "a", newline=""))
            r.writer = csv.writer(r.metrics_file)
            if r.step == 0:
                r.writer.writerow(["step", "loss", "n_dims_active", "n_points", "lr", "elapsed_s"])
        # Runs found at different steps catch up first (the ones behind as a smaller pack), then all go on.
        while behind := [r for r in runs if r.step < end]:
            s0 = min(r.step for r in behind)
            group = [r for r in behind if r.step == s0]
            upto = min([r.step for r in behind if r.step > s0] + [end])
            _advance(group, template, s0, upto, end, device, t0, prov, bar, compile_mode, saver)
    bar.close()
    set_pack_dropout_generators(template, None)
    if end == steps:
        for r in runs:  # every run's outputs before any checkpoint goes: a kill in between resumes at the end
            r.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(r.work_metrics, r.metrics_path)
            atomic_save(model_dict(r, r.hash, r.elapsed + time.perf_counter() - t0, device, prov), r.model_path)
        for r in runs:
            _remove_checkpoint(r.ckpt_dir, r.work_metrics)
    return [r.model for r in runs]


def _advance(group: list[_Run], template: ICLModel, start: int, stop: int, end: int, device: torch.device,
             t0: float, prov: dict, bar, compile_mode: str, saver: BackgroundSaver) -> None:
    """Train the runs of ``group`` (all at step ``start``) as one pack up to step ``stop``; ``saver`` writes their
    checkpoints."""
    spec = group[0].spec
    curriculum = Curriculum.from_dict(spec["curriculum"])
    steps, log_every, ckpt_every = spec["steps"], spec["log_every"], spec["checkpoint_every"]
    packed_step = PackedStep(group, template, device, compile_mode)
    # The group's non-finite flags as (K,) tensors: a few kernels per step for the pack, not per run, and one read of
    # the K flags where they are checked; each run keeps its own for the next group (runs behind catch up first).
    bad_step = torch.stack([r.bad_step for r in group])
    bad_loss = torch.stack([r.bad_loss for r in group])

    def check_finite() -> None:
        for r, first, loss in zip(group, bad_step.tolist(), bad_loss.tolist()):
            if first >= 0:
                raise non_finite_error(loss, first, r.ckpt_path, r.ckpt_dir, where=f" in run {r.name} of the pack",
                                       saver=saver)

    for step in range(start, stop):
        n_dims, n_points = curriculum.at(step)
        losses, lrs = packed_step(n_dims, n_points)  # (K,), on the device: read where the host syncs anyway (below)
        newly_bad = ~torch.isfinite(losses) & (bad_step < 0)
        bad_step = torch.where(newly_bad, step, bad_step)
        bad_loss = torch.where(newly_bad, losses, bad_loss)
        done = step + 1
        logging = step % log_every == 0 or done == steps
        if logging:
            check_finite()
            values = losses.tolist()  # one read of the K losses
        for i, (r, lr) in enumerate(zip(group, lrs)):
            r.step = done
            if logging:
                r.writer.writerow([step, values[i], n_dims, n_points, lr,
                                   round(r.elapsed + time.perf_counter() - t0, 3)])
                r.metrics_file.flush()
        if logging:
            bar.set_postfix(loss=" ".join(f"{v:.3f}" for v in values), dims=n_dims, points=n_points)
        if done % ckpt_every == 0 or done == end:
            check_finite()
            for r in group:
                r.metrics_file.flush()
            saver.save_all([(checkpoint_dict(r, r.hash, done, r.elapsed + time.perf_counter() - t0, prov), r.ckpt_path)
                            for r in group])  # the K files as one background write
        bar.update(1)  # the groups' step ranges follow each other: the bar counts the pack's slowest run
    for i, r in enumerate(group):
        r.bad_step, r.bad_loss = bad_step[i], bad_loss[i]
    packed_step.close()
