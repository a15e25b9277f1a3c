# Training stage (mambaicl.training): one job per (task, model, seed). Checkpoints live beside the outputs, undeclared, so a
# failed or killed job resumes from its last checkpoint when the rule runs again.
#
# With train.pack > 1, one job per pack instead (mambaicl.training.pack_plan: runs of one model shape, seeds and
# learning rates may differ): rule train_pack_<i> trains its runs in one process and writes each run's model.pt,
# metrics and checkpoints exactly where rule train would, so every downstream rule is unchanged. With pack 1 (the
# default) only rule train exists, as before.

from mambaicl.training.pack_plan import plan_packs

PACKS = plan_packs(config) if config["train"].get("pack", 1) > 1 else None

if PACKS is None:

    rule train:
        output:
            model=f"{RESULTS}/models/{{task}}/{{model}}/seed{{seed}}/model.pt",
            metrics=f"{RESULTS}/models/{{task}}/{{model}}/seed{{seed}}/train_metrics.csv",
        params:
            spec=lambda w: train_spec(config, w.task, w.model, int(w.seed)),
            checkpoint_dir=lambda w: checkpoint_dir(w.task, w.model, w.seed),
            device=config["device"],
        threads: THREADS
        resources:
            gpu=GPU_JOB,
            gpu_slots=GPU_JOB,
        log:
            f"{LOGS}/train/{{task}}/{{model}}/seed{{seed}}.log",
        script:
            "../scripts/train.py"

else:
    for _i, _pack in enumerate(PACKS):

        rule:
            name:
                f"train_pack_{_i}"
            output:
                models=[f"{model_dir(t, m, s)}/model.pt" for t, m, s in _pack.runs],
                metrics=[f"{model_dir(t, m, s)}/train_metrics.csv" for t, m, s in _pack.runs],
            params:
                specs=[train_spec(config, t, m, s) for t, m, s in _pack.runs],
                checkpoint_dirs=[checkpoint_dir(t, m, s) for t, m, s in _pack.runs],
                device=config["device"],
            threads: THREADS
            resources:
                gpu=GPU_JOB,
                gpu_slots=GPU_JOB,
            log:
                f"{LOGS}/train/pack{_i}.log",
            script:
                "../scripts/train_pack.py"
