"""Throughput of `perturb`: the pure-Python reference, the Rust batch call, and the
Rust batch call from 4 threads at once, on two workloads, each a benchmark group.

- `perturb-5000-sentences`: 5,000 short real English sentences (the first unique XNLI
  premises and hypotheses, then TyDiQA-GoldP questions; about 60 characters) with the
  English Wiktionary wordnet.
- `perturb-long-sentences`: 3,000 long English sentences (120-180 characters, about
  150, the length of XQuAD English contexts' sentences) with a large lexicon, the
  English and German Wiktionary wordnets and the MUSE en-de dictionary. XQuAD is not in
  the shared data, so the sentences are those of the TyDiQA-GoldP English contexts,
  split at sentence ends.

Real data is found as the tests find it ($ROBUST_XLT_DATA, else ../shared/data;
archives or unpacked folders); otherwise each workload is a hand-written fixture
repeated to its size, whose numbers are not comparable with the README's. The run
prints which it used. Run: `pytest benches/bench_perturb.py --benchmark-only`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# tests/ goes on sys.path in benches/conftest.py at run time; a `mypy benches` run does not see it.
from reference_perturb import _WORD, reference_perturb_texts  # type: ignore[import-not-found]
from robust_xlt import Lexicon, load_lexicon, perturb, segment_words
from robust_xlt.stopwords import stopword_list

RATE = 0.3
SEED = 11

XNLI = "xnli/dev-en.tsv"
TYDIQA = "tydiqa-goldp/tydiqa.goldp.en.train.json"
WIKT_EN = "lexicons/omw/wikt/wn-wikt-eng.tab"
WIKT_DE = "lexicons/omw/wikt/wn-wikt-deu.tab"
MUSE_EN_DE = "lexicons/muse/en-de.txt"

# A sentence ends at . ! or ? followed by space and a capital, quote or bracket:
# crude ("U.S. Army" ends one), but the benchmark needs long real sentences, not a
# linguist's split.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
LONG_CHARS = (120, 180)


def _short_sentences(shared_data, count: int) -> tuple[list[str], str]:
    seen: dict[str, None] = {}
    with open(shared_data.path(XNLI), encoding="utf-8", newline="") as f:
        for premise, hypothesis, _ in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            seen.setdefault(premise)
            seen.setdefault(hypothesis)
    squad = json.loads(shared_data.path(TYDIQA).read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                seen.setdefault(qa["question"])
    texts = list(seen)[:count]
    return texts, (
        f"{len(texts)} English sentences (mean {_mean_chars(texts):.0f} characters), the first unique ones of "
        f"{shared_data.source(XNLI)} (premises, hypotheses) then {shared_data.source(TYDIQA)} (questions)"
    )


def _long_sentences(shared_data, count: int) -> tuple[list[str], str]:
    """The first unique sentences of 120-180 characters of the TyDiQA-GoldP English
    contexts (about 3,300 in the train file)."""
    low, high = LONG_CHARS
    seen: dict[str, None] = {}
    squad = json.loads(shared_data.path(TYDIQA).read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for sentence in _SENTENCE_END.split(paragraph["context"]):
                if low <= len(sentence := sentence.strip()) <= high:
                    seen.setdefault(sentence)
    texts = list(seen)[:count]
    return texts, (
        f"{len(texts)} English sentences of {low}-{high} characters (mean {_mean_chars(texts):.0f}), the first "
        f"unique ones of the contexts of {shared_data.source(TYDIQA)} split at sentence ends (XQuAD is not in "
        "the shared data)"
    )


def _mean_chars(texts: list[str]) -> float:
    return sum(map(len, texts)) / max(len(texts), 1)


@dataclass(frozen=True)
class Workload:
    """One benchmark group: its data, and the fallback when the data is absent."""

    group: str
    count: int
    sentence_files: tuple[str, ...]
    lexicon_files: tuple[str, ...]
    sentences: Callable[[Any, int], tuple[list[str], str]]  # (shared_data, count) -> texts, description
    fallback_texts: tuple[str, ...]
    fallback_lexicon: str  # robust-xlt TSV


SHORT = Workload(
    group="perturb-5000-sentences",
    count=5000,
    sentence_files=(XNLI, TYDIQA),
    lexicon_files=(WIKT_EN,),
    sentences=_short_sentences,
    fallback_texts=(
        "The big dog ran quickly to the large house near the river.",
        "Scientists announced an important discovery about ancient languages.",
        "A quick brown fox jumps over the lazy dog.",
    ),
    fallback_lexicon="en\tbig\ten\tlarge\nen\tquick\ten\tfast\nen\tdog\ten\thound\n",
)
LONG = Workload(
    group="perturb-long-sentences",
    count=3000,
    sentence_files=(TYDIQA,),
    lexicon_files=(WIKT_EN, WIKT_DE, MUSE_EN_DE),
    sentences=_long_sentences,
    fallback_texts=(
        "The old city council announced on Monday that the large bridge across the river would be closed "
        "for repairs until the end of the following summer.",
        "Researchers at the university found that small birds living near busy roads sing louder and at a "
        "higher pitch than birds in quiet forests.",
        "During the long winter the village depended on a narrow mountain road, which heavy snow often "
        "blocked for several days at a time.",
    ),
    fallback_lexicon=(
        "en\tbig\ten\tlarge\nen\tlarge\ten\thuge\nen\told\ten\tancient\nen\tcity\ten\ttown\n"
        "en\tbridge\tde\tBrücke\nen\triver\tde\tFluss\nen\tsmall\ten\tlittle\nen\tbusy\ten\thectic\n"
        "en\tquiet\ten\tcalm\nen\tlong\ten\tlengthy\nen\tnarrow\ten\tthin\nen\theavy\ten\tweighty\n"
        "en\tsnow\tde\tSchnee\nen\troad\ten\tstreet\nen\tsing\ten\tchant\nen\tfound\ten\tdiscovered\n"
    ),
)


@dataclass(frozen=True)
class Case:
    """A workload loaded: the texts, the lexicon, and the reference's inputs (the
    lexicon as a plain dict over the corpus's words and the stop words, built untimed)."""

    group: str
    description: str
    texts: list[str]
    lexicon: Lexicon
    synonyms: dict[str, list[str]]
    stopwords: frozenset[str]


def _load(workload: Workload, shared_data, scratch: Path) -> Case:
    files = workload.sentence_files + workload.lexicon_files
    found = {name: shared_data.path(name) for name in files}
    if all(found.values()):
        texts, what = workload.sentences(shared_data, workload.count)
        lexicon = load_lexicon([found[name] for name in workload.lexicon_files])
        what += "; lexicon " + " + ".join(shared_data.source(name) for name in workload.lexicon_files)
    else:
        texts = list((workload.fallback_texts * workload.count)[: workload.count])
        path = scratch / f"{workload.group}.tsv"
        path.write_text(workload.fallback_lexicon, encoding="utf-8")
        lexicon = load_lexicon([path])
        missing = ", ".join(name for name, where in found.items() if where is None)
        entries = workload.fallback_lexicon.count("\n")
        what = (
            f"built-in fixture, {len(workload.fallback_texts)} sentences repeated to {workload.count}, "
            f"{entries}-entry lexicon ({missing} not in {shared_data.root}): not comparable with the README"
        )
    assert len(texts) == workload.count, f"{workload.group}: {len(texts)} texts, expected {workload.count}"
    keys = {m.group().lower() for text in texts for m in _WORD.finditer(text)}
    synonyms = {key: forms for key in keys if (forms := lexicon.synonyms(key, "en"))}
    stopwords = frozenset(stopword_list("en") or ())  # perturb's default, the function words
    return Case(workload.group, what, texts, lexicon, synonyms, stopwords)


@pytest.fixture(scope="module", params=[SHORT, LONG], ids=["short", "long"])
def case(request: pytest.FixtureRequest, shared_data, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return _load(request.param, shared_data, tmp_path_factory.mktemp("bench"))


@pytest.fixture
def benchmark_data(case: Case) -> str:
    return f"{case.group}: {case.description}"


def rust_batch(texts: list[str], lexicon: Lexicon) -> list[str]:
    return [p.text for p in perturb(texts, "en", lexicon, mode="synonym", rate=RATE, seed=SEED)]


def python_reference(case: Case) -> list[tuple[str, list]]:
    return reference_perturb_texts(case.texts, case.synonyms, "en", case.stopwords, rate=RATE, seed=SEED)


def test_rust_agrees_with_the_reference_where_segmenters_agree(case: Case) -> None:
    texts = case.texts
    rust = rust_batch(texts, case.lexicon)
    reference = [text for text, _ in python_reference(case)]
    rust_spans = segment_words(texts, "en")
    same_words = [
        i for i, t in enumerate(texts) if [(m.start(), m.end()) for m in _WORD.finditer(t)] == rust_spans[i]
    ]
    assert len(same_words) >= 0.9 * len(texts), f"segmenters agree on only {len(same_words)} texts"
    assert [rust[i] for i in same_words] == [reference[i] for i in same_words]
    assert sum(r != t for r, t in zip(rust, texts)) > 0.25 * len(texts)  # real work was done


def test_python_reference(benchmark, case: Case) -> None:
    benchmark.group = case.group
    out = benchmark(python_reference, case)
    assert len(out) == len(case.texts)


def test_rust_batch(benchmark, case: Case) -> None:
    benchmark.group = case.group
    out = benchmark(rust_batch, case.texts, case.lexicon)
    assert len(out) == len(case.texts)


def test_rust_batch_from_4_threads(benchmark, case: Case) -> None:
    """The same sentences as 4 concurrent calls of a quarter each: with the GIL
    released they overlap instead of queueing."""
    benchmark.group = case.group
    quarters = [case.texts[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        out = benchmark(lambda: list(pool.map(lambda part: rust_batch(part, case.lexicon), quarters)))
    assert sum(len(part) for part in out) == len(case.texts)
