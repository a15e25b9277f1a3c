# Training stage (mambaicl.training): one job per (task, model, seed). Checkpoints live beside the outputs, undeclared, so a
# failed or killed job resumes from its last checkpoint when the rule runs again.


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
