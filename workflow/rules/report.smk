# Report stage (mambaicl.report): one rule per figure and per table, the macros files (every number in
# the paper text comes from here) and the generated results section, all in the run's own GENERATED
# folder. Each block registers the files the paper reads in PAPER_INPUTS; the paper rule (paper.smk,
# included last) depends on all of them.
from mambaicl.report.macros import probing_macros

# Every figure colours a model by its place in the config's model list (report.style), whichever models it
# draws, so a model keeps its colour and marker across all figures.
MODEL_ORDER = list(config["models"])


rule figure_error_curves:
    input:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        report(f"{GENERATED}/figures/error_curves_{{task}}.pdf", caption="../report/error_curves.rst",
               category="Results", subcategory="{task}"),
    params:
        train_points=lambda w: config["tasks"][w.task]["curriculum"]["points"]["end"],
        groups=lambda w: paper_groups(config, w.task),
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/error_curves_{{task}}.log",
    script:
        "../scripts/figure_error_curves.py"


PAPER_INPUTS["error_curves"] = expand(f"{GENERATED}/figures/error_curves_{{task}}.pdf", task=TASKS)


rule table_errors:
    input:
        curves=f"{RESULTS}/metrics/{{task}}/curves.csv",
        meta=f"{RESULTS}/data/{{task}}/eval_prompts.json",
    output:
        f"{GENERATED}/tables/errors_{{task}}.tex",
    params:
        k_values=config["report"]["k_values"],
        order=MODEL_ORDER,
        ci=config["evaluation"]["bootstrap"]["ci"],
    log:
        f"{LOGS}/tables/errors_{{task}}.log",
    script:
        "../scripts/table_errors.py"


rule macros:
    input:
        curves=expand(f"{RESULTS}/metrics/{{task}}/curves.csv", task=TASKS),
        models=[f"{model_dir(t, m, s)}/model.pt" for t, m, s in iter_runs(config)],
    output:
        f"{GENERATED}/macros.tex",
    params:
        config=config,
        curves={t: f"{RESULTS}/metrics/{t}/curves.csv" for t in TASKS},
        models={f"{t}/{m}": [f"{model_dir(t, m, s)}/model.pt" for s in seeds_of(config, t, m)]
                for t in TASKS for m in MODELS_BY_TASK[t]},
    log:
        f"{LOGS}/tables/macros.log",
    script:
        "../scripts/macros.py"


rule table_param_counts:
    input:
        counts=f"{RESULTS}/metrics/param_counts.csv",
        reference="workflow/resources/reference/param_counts.csv",
    output:
        f"{GENERATED}/tables/param_counts.tex",
    log:
        f"{LOGS}/tables/table_param_counts.log",
    script:
        "../scripts/table_param_counts.py"


# Appendix: each seed's in-distribution window error per task and model (the spread behind the means).
rule table_seeds:
    input:
        per_seed=expand(f"{RESULTS}/metrics/{{task}}/curves_per_seed.csv", task=TASKS),
        metas=expand(f"{RESULTS}/data/{{task}}/eval_prompts.json", task=TASKS),
    output:
        f"{GENERATED}/tables/seeds.tex",
    params:
        tasks={t: {"per_seed": f"{RESULTS}/metrics/{t}/curves_per_seed.csv",
                   "meta": f"{RESULTS}/data/{t}/eval_prompts.json",
                   "train_points": config["tasks"][t]["curriculum"]["points"]["end"]} for t in TASKS},
        window=config["report"]["window"],
        order=MODEL_ORDER,
    log:
        f"{LOGS}/tables/seeds.log",
    script:
        "../scripts/table_seeds.py"


PAPER_INPUTS["macros"] = f"{GENERATED}/macros.tex"
PAPER_INPUTS["error_tables"] = expand(f"{GENERATED}/tables/errors_{{task}}.tex", task=TASKS)
PAPER_INPUTS["tasks_section"] = f"{GENERATED}/sections/tasks.tex"
PAPER_INPUTS["param_counts"] = f"{GENERATED}/tables/param_counts.tex"
PAPER_INPUTS["seeds"] = f"{GENERATED}/tables/seeds.tex"


rule figure_eval_settings:
    input:
        curves=lambda w: [c for c, _ in settings_panels(w.task).values()],
        metas=lambda w: [m for _, m in settings_panels(w.task).values()],
    output:
        report(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", caption="../report/eval_settings.rst",
               category="Evaluation settings", subcategory="{task}"),
    params:
        panels=lambda w: settings_panels(w.task),
        train_points=lambda w: config["tasks"][w.task]["curriculum"]["points"]["end"],
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/eval_settings_{{task}}.log",
    script:
        "../scripts/figure_eval_settings.py"


rule table_eval_settings:
    input:
        lambda w: [c for c, _ in settings_panels(w.task).values()],
    output:
        f"{GENERATED}/tables/eval_settings_{{task}}.tex",
    params:
        title=lambda w: task_title(task_spec(config, w.task), w.task),
        curves=lambda w: {s: c for s, (c, _) in settings_panels(w.task).items()},
        window=config["report"]["window"],
        order=MODEL_ORDER,
    log:
        f"{LOGS}/tables/eval_settings_{{task}}.log",
    script:
        "../scripts/table_eval_settings.py"


rule table_retrieval:
    input:
        curves=lambda w: [curves_of(w.task, s) for s in ["standard", *SETTINGS_BY_TASK[w.task]]],
        metrics=f"{RESULTS}/metrics/{{task}}/retrieval.csv",
    output:
        f"{GENERATED}/tables/retrieval_{{task}}.tex",
    params:
        title=lambda w: task_title(task_spec(config, w.task), w.task),
        curves=lambda w: {s: curves_of(w.task, s) for s in ["standard", *SETTINGS_BY_TASK[w.task]]},
        order=MODEL_ORDER,
        ci=config["evaluation"]["bootstrap"]["ci"],
    log:
        f"{LOGS}/tables/retrieval_{{task}}.log",
    script:
        "../scripts/table_retrieval.py"


PAPER_INPUTS["eval_settings_figures"] = expand(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", task=PANEL_TASKS)
PAPER_INPUTS["eval_settings_tables"] = expand(f"{GENERATED}/tables/eval_settings_{{task}}.tex", task=PANEL_TASKS)
PAPER_INPUTS["retrieval_tables"] = expand(f"{GENERATED}/tables/retrieval_{{task}}.tex", task=RETRIEVAL_TASKS)


# F2: skewed covariance -- models trained and evaluated on skewed data, beside isotropically trained
# models evaluated on the same kind of skewed data (their 'skewed' OOD setting).
SKEWED_TASK = next((t for t in TASKS if task_spec(config, t)["name"] == "skewed_linear_regression"), None)
ISOTROPIC_TASK = next((t for t in TASKS if task_spec(config, t)["name"] == "linear_regression"
                       and config["tasks"][t]["eval_settings"].get("skewed") == {"ood": "skewed"}), None)

if SKEWED_TASK and ISOTROPIC_TASK:

    rule figure_skewed_covariance:
        input:
            trained=curves_of(SKEWED_TASK, "standard"),
            trained_meta=meta_of(SKEWED_TASK, "standard"),
            ood=curves_of(ISOTROPIC_TASK, "skewed"),
            ood_meta=meta_of(ISOTROPIC_TASK, "skewed"),
        output:
            report(f"{GENERATED}/figures/skewed_covariance.pdf", caption="../report/skewed_covariance.rst",
                   category="Evaluation settings"),
        params:
            panels={"trained and evaluated on skewed inputs": (curves_of(SKEWED_TASK, "standard"),
                                                                meta_of(SKEWED_TASK, "standard")),
                    "trained isotropic, evaluated on skewed": (curves_of(ISOTROPIC_TASK, "skewed"),
                                                               meta_of(ISOTROPIC_TASK, "skewed"))},
            train_points=config["tasks"][SKEWED_TASK]["curriculum"]["points"]["end"],
            order=MODEL_ORDER,
        log:
            f"{LOGS}/figures/skewed_covariance.log",
        script:
            "../scripts/figure_eval_settings.py"

    PAPER_INPUTS["skewed_covariance"] = f"{GENERATED}/figures/skewed_covariance.pdf"


if VERDICTS:

    rule table_verdicts:
        input:
            verdicts=f"{RESULTS}/metrics/verdicts.csv",
            table1="workflow/resources/reference/park_table1.csv",
        output:
            f"{GENERATED}/tables/verdicts.tex",
        params:
            order=MODEL_ORDER,
            titles={t: task_title(task_spec(config, t), t) for t in VERDICTS["tasks"]},
            labels={m: model_label(config, m) for m in VERDICTS["models"]},
        log:
            f"{LOGS}/tables/verdicts.log",
        script:
            "../scripts/table_verdicts.py"

    PAPER_INPUTS["verdicts"] = f"{GENERATED}/tables/verdicts.tex"


# After the optional figure and table blocks above: the section includes them when they are registered
# (defined earlier, it saw neither and the paper silently lost the skewed-covariance figure and verdicts).
rule results_section:
    input:
        figures=expand(f"{GENERATED}/figures/error_curves_{{task}}.pdf", task=TASKS),
        tables=expand(f"{GENERATED}/tables/errors_{{task}}.tex", task=TASKS),
        metas=expand(f"{RESULTS}/data/{{task}}/eval_prompts.json", task=TASKS),
        settings_figures=expand(f"{GENERATED}/figures/eval_settings_{{task}}.pdf", task=PANEL_TASKS),
        settings_tables=expand(f"{GENERATED}/tables/eval_settings_{{task}}.tex", task=PANEL_TASKS),
        retrieval_tables=expand(f"{GENERATED}/tables/retrieval_{{task}}.tex", task=RETRIEVAL_TASKS),
        skewed=[f"{GENERATED}/figures/skewed_covariance.pdf"] if "skewed_covariance" in PAPER_INPUTS else [],
        verdicts=[f"{GENERATED}/tables/verdicts.tex"] if "verdicts" in PAPER_INPUTS else [],
        drawn=[c for cs in results_drawn().values() for c in cs],
    output:
        f"{GENERATED}/sections/tasks.tex",
    params:
        tasks=TASKS,
        settings=SETTINGS_BY_TASK,
        retrieval_tasks=RETRIEVAL_TASKS,
        skewed_covariance="skewed_covariance" in PAPER_INPUTS,
        verdicts="verdicts" in PAPER_INPUTS,
        titles={t: task_title(task_spec(config, t), t) for t in TASKS},
        options={t: options_text(eval_data_spec(config, t)["task"]) for t in TASKS},
        choices={t: generator_choices_text(eval_data_spec(config, t)["task"]) for t in TASKS},
        drawn=results_drawn(),
        ci=config["evaluation"]["bootstrap"]["ci"],
    log:
        f"{LOGS}/tables/results_section.log",
    script:
        "../scripts/results_section.py"


rule reference_comparison:
    input:
        simple_functions="workflow/resources/reference/grazzi_simple_functions.csv",
        baselines="workflow/resources/reference/baselines_analytic.csv",
        curves=list(reference_curves().values()),
    output:
        f"{RESULTS}/metrics/reference_comparison.csv",
    params:
        curves=reference_curves(),
        task_dims={t: task_from_spec(task_spec(config, t)).n_dims for t in TASKS},
        instances=reference_instances(),
        models=config["report"].get("reference_models", {}),
        # the CSV's columns (each row's source, our label and interval): a change reruns the rule on old runs
        columns="source_kind,ours_label,ours_ci",
    log:
        f"{LOGS}/tables/reference_comparison.log",
    script:
        "../scripts/reference_comparison.py"


rule table_reference:
    input:
        f"{RESULTS}/metrics/reference_comparison.csv",
    output:
        f"{GENERATED}/tables/reference_comparison.tex",
    params:
        scale=config["scale"],
        order=MODEL_ORDER,
        ci=config["evaluation"]["bootstrap"]["ci"],
    log:
        f"{LOGS}/tables/table_reference.log",
    script:
        "../scripts/table_reference.py"


PAPER_INPUTS["reference_comparison"] = f"{GENERATED}/tables/reference_comparison.tex"


rule table_training:
    output:
        f"{GENERATED}/tables/training.tex",
    params:
        config={k: config[k] for k in ("models", "experiments", "train", "tasks")},
    log:
        f"{LOGS}/tables/training.log",
    script:
        "../scripts/table_training.py"


PAPER_INPUTS["training"] = f"{GENERATED}/tables/training.tex"


rule figure_forward_scaling:
    input:
        f"{RESULTS}/benchmarks/forward_scaling.csv",
    output:
        report(f"{GENERATED}/figures/forward_scaling.pdf", caption="../report/forward_scaling.rst",
               category="Backbones"),
    params:
        model_backbones={m: spec["backbone"] for m, spec in config["models"].items()},
    log:
        f"{LOGS}/figures/forward_scaling.log",
    script:
        "../scripts/figure_forward_scaling.py"




# The fitted growth exponents the backbones section states (and the figure's legend prints).
rule macros_scaling:
    input:
        f"{RESULTS}/benchmarks/forward_scaling.csv",
    output:
        f"{GENERATED}/macros_scaling.tex",
    log:
        f"{LOGS}/tables/macros_scaling.log",
    script:
        "../scripts/macros_scaling.py"


PAPER_INPUTS["forward_scaling"] = [f"{GENERATED}/figures/forward_scaling.pdf", f"{GENERATED}/macros_scaling.tex"]


rule figure_probe_mse:
    input:
        summary=f"{RESULTS}/probing/summary.csv",
        gd=f"{RESULTS}/probing/gd_reference.csv",
    output:
        report(f"{GENERATED}/figures/probe_mse_by_depth.pdf", caption="../report/probing.rst", category="Probing"),
    params:
        titles=probe_titles(),
        gd_scale=PROBING["gd_scale"],
        models=PROBE_MAIN,
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/probe_mse_by_depth.log",
    script:
        "../scripts/figure_probe_mse.py"


# Appendix: every probed model other than the reference Transformer and Mamba (an extension of the paper's
# Mamba-vs-Transformer figure), same colours.
rule figure_probe_mse_other_models:
    input:
        summary=f"{RESULTS}/probing/summary.csv",
        gd=f"{RESULTS}/probing/gd_reference.csv",
    output:
        report(f"{GENERATED}/figures/probe_mse_by_depth_other_models.pdf", caption="../report/probing.rst",
               category="Probing"),
    params:
        titles=probe_titles(),
        gd_scale=PROBING["gd_scale"],
        models=PROBE_OTHER,
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/probe_mse_by_depth_other_models.log",
    script:
        "../scripts/figure_probe_mse.py"


rule figure_probe_scale_shift:
    input:
        summary=f"{RESULTS}/probing/summary.csv",
    output:
        report(f"{GENERATED}/figures/probe_scale_shift_by_depth.pdf", caption="../report/probing.rst", category="Probing"),
    params:
        titles=probe_titles(),
        models=PROBE_MAIN,
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/probe_scale_shift_by_depth.log",
    script:
        "../scripts/figure_probe_scale_shift.py"


rule macros_probing:
    input:
        summary=[f"{RESULTS}/probing/summary.csv"] if PROBE_TASKS else [],
        gd=[f"{RESULTS}/probing/gd_reference.csv"] if GD_TASKS else [],
    output:
        f"{GENERATED}/macros_probing.tex",
    params:
        settings={k: v for k, v in PROBING.items() if k != "tasks"},
        info={
            "titles": probe_titles(),
            "labels": {m: model_label(config, m) for m in config["models"]},
            "models": {t: probe_models(config, t) for t in PROBE_TASKS},
            "skipped": {t: skipped_models(config, t) for t in PROBE_TASKS},
            "data": {t: f"{data_task_of(config, t)} ({options_text(probe_data_spec(config, t)['task'])})"
                     for t in PROBE_TASKS},
            "data_titles": {t: task_title(task_spec(config, data_task_of(config, t)), data_task_of(config, t))
                            for t in PROBE_TASKS},
            "main": PROBE_MAIN,
            "other": PROBE_OTHER,
        },
        expected=probing_macros(config),  # the names and switches the job must write
    log:
        f"{LOGS}/tables/macros_probing.log",
    script:
        "../scripts/macros_probing.py"


PAPER_INPUTS["probing"] = [f"{GENERATED}/macros_probing.tex"] + (
    [f"{GENERATED}/figures/probe_mse_by_depth.pdf", f"{GENERATED}/figures/probe_scale_shift_by_depth.pdf"]
    if PROBE_TASKS else []
)
if any(PROBE_OTHER.values()):
    PAPER_INPUTS["probing_other_models"] = f"{GENERATED}/figures/probe_mse_by_depth_other_models.pdf"


# The claims ledger as the paper's Claims section (after the introduction) and its counts, which the
# introduction quotes.
rule claims_section:
    input:
        f"{RESULTS}/metrics/claims.csv",
    output:
        section=f"{GENERATED}/sections/claims.tex",
        macros=f"{GENERATED}/macros_claims.tex",
    log:
        f"{LOGS}/tables/claims_section.log",
    script:
        "../scripts/claims_section.py"


PAPER_INPUTS["claims"] = [f"{GENERATED}/sections/claims.tex", f"{GENERATED}/macros_claims.tex"]


# Training-loss curves: one panel per trained task instance, every model's loss against the step (its seeds'
# train_metrics.csv, written by the train rule).
rule figure_training_loss:
    input:
        [f"{model_dir(t, m, s)}/train_metrics.csv" for t, m, s in iter_runs(config)],
    output:
        report(f"{GENERATED}/figures/training_loss.pdf", caption="../report/training_loss.rst", category="Training"),
    params:
        files={f"{t}/{m}": [f"{model_dir(t, m, s)}/train_metrics.csv" for s in seeds_of(config, t, m)]
               for t in TASKS for m in MODELS_BY_TASK[t]},
        titles={t: task_title(task_spec(config, t), t) for t in TASKS},
        labels={m: model_label(config, m) for m in config["models"]},
        order=MODEL_ORDER,
    log:
        f"{LOGS}/figures/training_loss.log",
    script:
        "../scripts/figure_training_loss.py"


PAPER_INPUTS["training_loss"] = f"{GENERATED}/figures/training_loss.pdf"


# The "This run" table (page 1-2): this run's protocol beside the papers' (workflow/config/paper.yaml, the
# papers' protocol; their published parameter counts), whatever config built the PDF.
rule table_run_protocol:
    input:
        paper="workflow/config/paper.yaml",
        schema=str(SCHEMA),
        params=f"{RESULTS}/metrics/param_counts.csv",
        paper_params="workflow/resources/reference/param_counts.csv",
        metrics=[f"{model_dir(t, m, s)}/train_metrics.csv" for t, m, s in iter_runs(config)],
        configs=CONFIG_FILES,  # the config files this run was given: their names head the table
    output:
        f"{GENERATED}/tables/run_protocol.tex",
    params:
        config=config,
    log:
        f"{LOGS}/tables/run_protocol.log",
    script:
        "../scripts/table_run_protocol.py"


PAPER_INPUTS["run_protocol"] = f"{GENERATED}/tables/run_protocol.tex"


# The provenance section and the config appendix: config files and hash, run date, hardware, package
# versions, compute per stage (from the attempt times in the jobs' declared logs), prompt checksums, and the
# map of our figures and tables to the papers' numbering.
rule provenance_section:
    input:
        configs=CONFIG_FILES,
        metas=list(prompt_metas().values()),
        metrics=[f"{model_dir(t, m, s)}/train_metrics.csv" for t, m, s in iter_runs(config)],
        after=provenance_after,
        static=sorted(str(p) for p in Path("paper/sections").glob("*.tex")),  # their float labels: the map
    output:
        section=f"{GENERATED}/sections/provenance.tex",
        appendix=f"{GENERATED}/sections/config_appendix.tex",
    params:
        config=config,
        metas=prompt_metas(),
        logs=LOGS,
    log:
        f"{LOGS}/tables/provenance_section.log",
    script:
        "../scripts/provenance_section.py"


PAPER_INPUTS["provenance"] = [f"{GENERATED}/sections/provenance.tex", f"{GENERATED}/sections/config_appendix.tex"]
