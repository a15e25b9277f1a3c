# The NLP few-shot study (Grazzi et al. section 4): task data -> local models -> per-model evaluation and
# context-length sweep -> tables, figures and macros for paper/sections/nlp.tex.
from mambaicl.nlp.models import BUILT_LOCALLY, model_spec
from mambaicl.nlp.report import nlp_enabled

NLP = config.get("nlp") or {}
if nlp_enabled(config):
    NLP_MODELS = NLP["models"]
    NLP_SWEEP = NLP["sweep"]["models"]
    NLP_SETTINGS = {k: NLP.get(k, d) for k, d in [("seed", 41), ("shots", 5), ("n_prompts", 400),
                    ("n_zero_shot", 100), ("batch_size", 16), ("dtype", "auto"), ("drop_policy", "skip"),
                    ("gpu_memory_gib", 139.0)]}
    NLP_SETTINGS["sweep"] = {"shots": NLP["sweep"]["shots"], "n_prompts": NLP["sweep"].get("n_prompts", 400)}
    NLP_LOCAL = NLP.get("local_dirs", {})
    NLP_THREADS = NLP.get("threads", 2)
    # On a GPU an NLP job takes every GPU slot: its precision and batch size assume the GPU's memory
    # (nlp.gpu_memory_gib) is its own. Without a local gpu_slots total (a cluster: one GPU per job), one slot.
    _slots = getattr(workflow.global_resources.get("gpu_slots"), "value", workflow.global_resources.get("gpu_slots"))
    NLP_GPU_SLOTS = GPU_JOB * (int(_slots) if isinstance(_slots, (int, float)) and _slots >= 1 else 1)

    wildcard_constraints:
        nlp_model="|".join(re.escape(m) for m in NLP_MODELS),

    rule nlp_data:
        output:
            f"{NLP_DIR}/data/tasks.json",
        log:
            f"{LOGS}/nlp/data.log",
        script:
            "../scripts/nlp_data.py"

    rule nlp_build_model:
        output:
            directory(f"{NLP_DIR}/models/{{nlp_model}}"),
        log:
            f"{LOGS}/nlp/build_{{nlp_model}}.log",
        script:
            "../scripts/nlp_build_model.py"

    rule nlp_evaluate:
        input:
            unpack(nlp_model_input),
            tasks=f"{NLP_DIR}/data/tasks.json",
        output:
            summary=f"{NLP_DIR}/eval/{{nlp_model}}/summary.csv",
            predictions=f"{NLP_DIR}/eval/{{nlp_model}}/predictions.csv",
            meta=f"{NLP_DIR}/eval/{{nlp_model}}/meta.json",
        params:
            location=nlp_location,
            settings=NLP_SETTINGS,
            device=config["device"],
        threads: NLP_THREADS
        resources:
            gpu=GPU_JOB,
            gpu_slots=NLP_GPU_SLOTS,
        log:
            f"{LOGS}/nlp/evaluate_{{nlp_model}}.log",
        script:
            "../scripts/nlp_evaluate.py"

    rule nlp_sweep:
        input:
            unpack(nlp_model_input),
            tasks=f"{NLP_DIR}/data/tasks.json",
        output:
            f"{NLP_DIR}/eval/{{nlp_model}}/sweep.csv",
        params:
            location=nlp_location,
            settings=NLP_SETTINGS,
            device=config["device"],
        threads: NLP_THREADS
        resources:
            gpu=GPU_JOB,
            gpu_slots=NLP_GPU_SLOTS,
        log:
            f"{LOGS}/nlp/sweep_{{nlp_model}}.log",
        script:
            "../scripts/nlp_sweep.py"

    rule nlp_table_accuracy:
        input:
            list(nlp_files(NLP_MODELS, "summary.csv").values()),
            list(nlp_files(NLP_MODELS, "meta.json").values()),
        output:
            f"{GENERATED}/tables/nlp_accuracy.tex",
        params:
            results=nlp_files(NLP_MODELS, "summary.csv"),
            metas=nlp_files(NLP_MODELS, "meta.json"),  # each model's precision, a row of the table
            shots=NLP_SETTINGS["shots"],
        log:
            f"{LOGS}/nlp/table_accuracy.log",
        script:
            "../scripts/nlp_table_accuracy.py"

    rule nlp_table_reference:
        input:
            list(nlp_files(NLP_MODELS, "summary.csv").values()),
            reference="workflow/resources/reference/grazzi_nlp_5shot.csv",
        output:
            f"{GENERATED}/tables/nlp_reference.tex",
        params:
            results=nlp_files(NLP_MODELS, "summary.csv"),
        log:
            f"{LOGS}/nlp/table_reference.log",
        script:
            "../scripts/nlp_table_reference.py"

    rule nlp_table_reference_tasks:
        input:
            list(nlp_files(NLP_MODELS, "summary.csv").values()),
            reference="workflow/resources/reference/grazzi_nlp_5shot.csv",
        output:
            f"{GENERATED}/tables/nlp_reference_tasks.tex",
        params:
            results=nlp_files(NLP_MODELS, "summary.csv"),
        log:
            f"{LOGS}/nlp/table_reference_tasks.log",
        script:
            "../scripts/nlp_table_reference_tasks.py"

    rule nlp_figure_box:
        input:
            list(nlp_files(NLP_MODELS, "summary.csv").values()),
        output:
            report(f"{GENERATED}/figures/nlp_box.pdf", caption="../report/nlp_box.rst", category="NLP study"),
        params:
            results=nlp_files(NLP_MODELS, "summary.csv"),
            zero_shot=NLP.get("zero_shot_boxes", False),
        log:
            f"{LOGS}/nlp/figure_box.log",
        script:
            "../scripts/nlp_figure_box.py"

    rule nlp_figure_shots:
        input:
            list(nlp_files(NLP_SWEEP, "sweep.csv").values()),
            reference="workflow/resources/reference/grazzi_nlp_context_length.csv",
        output:
            pdf=report(f"{GENERATED}/figures/nlp_shots.pdf", caption="../report/nlp_shots.rst",
                       category="NLP study"),
            csv=f"{RESULTS}/nlp/sweep_curves.csv",
        params:
            sweeps=nlp_files(NLP_SWEEP, "sweep.csv"),
            order=NLP_MODELS,  # each NLP model's colour (report.style), whichever are swept
        log:
            f"{LOGS}/nlp/figure_shots.log",
        script:
            "../scripts/nlp_figure_shots.py"

    rule nlp_macros:
        input:
            list(nlp_files(NLP_MODELS, "summary.csv").values()),
            list(nlp_files(NLP_MODELS, "meta.json").values()),
            list(nlp_files(NLP_SWEEP, "sweep.csv").values()),
            reference="workflow/resources/reference/grazzi_nlp_5shot.csv",
        output:
            f"{GENERATED}/macros_nlp.tex",
        params:
            results=nlp_files(NLP_MODELS, "summary.csv"),
            metas=nlp_files(NLP_MODELS, "meta.json"),
            sweeps=nlp_files(NLP_SWEEP, "sweep.csv"),
            settings=NLP_SETTINGS,
        log:
            f"{LOGS}/nlp/macros.log",
        script:
            "../scripts/nlp_macros.py"

    PAPER_INPUTS["nlp"] = [f"{GENERATED}/macros_nlp.tex", f"{GENERATED}/tables/nlp_accuracy.tex",
                           f"{GENERATED}/tables/nlp_reference.tex", f"{GENERATED}/tables/nlp_reference_tasks.tex",
                           f"{GENERATED}/figures/nlp_box.pdf",
                           f"{GENERATED}/figures/nlp_shots.pdf"]
