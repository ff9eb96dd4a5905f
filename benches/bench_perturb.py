"""Throughput of `perturb` on 5,000 real sentences: the pure-Python reference,
the Rust batch call, and the Rust batch call from 4 threads at once.

Real data: English sentences from the shared XNLI and TyDiQA-GoldP files and
the shared English Wiktionary wordnet, when `../shared/data` is present;
otherwise a hand-written fixture repeated to 5,000 sentences (the numbers then
say little). Run: `pytest benches/bench_perturb.py --benchmark-only`.
"""

from __future__ import annotations

import csv
import json
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import stopwordsiso

from reference_perturb import _WORD, reference_perturb_texts
from robust_xlt import Lexicon, load_lexicon, perturb, segment_words

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
N_SENTENCES = 5000
RATE = 0.3
SEED = 11
FALLBACK = [
    "The big dog ran quickly to the large house near the river.",
    "Scientists announced an important discovery about ancient languages.",
    "A quick brown fox jumps over the lazy dog.",
]


def _english_sentences(root: Path) -> list[str]:
    with tarfile.open(SHARED / "xnli.tar.xz") as tar:
        tar.extractall(root, filter="data")
    with tarfile.open(SHARED / "tydiqa-goldp.tar.xz") as tar:
        tar.extractall(root, filter="data")
    seen: dict[str, None] = {}
    with open(root / "xnli" / "dev-en.tsv", encoding="utf-8", newline="") as f:
        for premise, hypothesis, _ in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            seen.setdefault(premise)
            seen.setdefault(hypothesis)
    squad = json.loads((root / "tydiqa-goldp" / "tydiqa.goldp.en.train.json").read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                seen.setdefault(qa["question"])
    return list(seen)[:N_SENTENCES]


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Lexicon]:
    root = tmp_path_factory.mktemp("bench")
    if (SHARED / "lexicons.tar.xz").exists():
        texts = _english_sentences(root)
        with tarfile.open(SHARED / "lexicons.tar.xz") as tar:
            member = tar.getmember("lexicons/omw/wikt/wn-wikt-eng.tab")
            tar.extractall(root, members=[member], filter="data")
        lexicon = load_lexicon([root / member.name])
    else:
        texts = (FALLBACK * N_SENTENCES)[:N_SENTENCES]
        path = root / "fallback.tsv"
        path.write_text("en\tbig\ten\tlarge\nen\tquick\ten\tfast\nen\tdog\ten\thound\n", encoding="utf-8")
        lexicon = load_lexicon([path])
    assert len(texts) == N_SENTENCES
    return texts, lexicon


@pytest.fixture(scope="module")
def python_inputs(workload) -> tuple[dict[str, list[str]], frozenset[str]]:
    """The lexicon as a plain dict over the corpus's words, built untimed."""
    texts, lexicon = workload
    keys = {m.group().lower() for text in texts for m in _WORD.finditer(text)}
    synonyms = {key: found for key in keys if (found := lexicon.synonyms(key, "en"))}
    return synonyms, frozenset(stopwordsiso.stopwords("en"))


def rust_batch(texts: list[str], lexicon: Lexicon) -> list[str]:
    return [p.text for p in perturb(texts, "en", lexicon, mode="synonym", rate=RATE, seed=SEED)]


def test_rust_agrees_with_the_reference_where_segmenters_agree(workload, python_inputs) -> None:
    texts, lexicon = workload
    synonyms, stopwords = python_inputs
    rust = rust_batch(texts, lexicon)
    reference = [text for text, _ in reference_perturb_texts(texts, synonyms, "en", stopwords, rate=RATE, seed=SEED)]
    rust_spans = segment_words(texts, "en")
    same_words = [
        i for i, t in enumerate(texts) if [(m.start(), m.end()) for m in _WORD.finditer(t)] == rust_spans[i]
    ]
    assert len(same_words) >= 0.9 * len(texts), f"segmenters agree on only {len(same_words)} texts"
    assert [rust[i] for i in same_words] == [reference[i] for i in same_words]
    assert sum(r != t for r, t in zip(rust, texts)) > 0.25 * len(texts)  # real work was done


@pytest.mark.benchmark(group="perturb-5000-sentences")
def test_python_reference(benchmark, workload, python_inputs) -> None:
    texts, _ = workload
    synonyms, stopwords = python_inputs
    out = benchmark(reference_perturb_texts, texts, synonyms, "en", stopwords, rate=RATE, seed=SEED)
    assert len(out) == N_SENTENCES


@pytest.mark.benchmark(group="perturb-5000-sentences")
def test_rust_batch(benchmark, workload) -> None:
    texts, lexicon = workload
    out = benchmark(rust_batch, texts, lexicon)
    assert len(out) == N_SENTENCES


@pytest.mark.benchmark(group="perturb-5000-sentences")
def test_rust_batch_from_4_threads(benchmark, workload) -> None:
    """The same 5,000 sentences as 4 concurrent calls of 1,250: with the GIL
    released they overlap instead of queueing."""
    texts, lexicon = workload
    quarters = [texts[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        out = benchmark(lambda: list(pool.map(lambda part: rust_batch(part, lexicon), quarters)))
    assert sum(len(part) for part in out) == N_SENTENCES
