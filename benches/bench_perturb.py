"""Throughput of `perturb` on 5,000 real sentences: the pure-Python reference,
the Rust batch call, and the Rust batch call from 4 threads at once.

Real data: English sentences from the shared XNLI and TyDiQA-GoldP files and
the shared English Wiktionary wordnet, found as the tests find them ($ROBUST_XLT_DATA,
else ../shared/data; archives or unpacked folders); otherwise a hand-written fixture
repeated to 5,000 sentences, whose numbers are not comparable with the README's. The
run prints which it used. Run: `pytest benches/bench_perturb.py --benchmark-only`.
"""

from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from reference_perturb import _WORD, reference_perturb_texts
from robust_xlt import Lexicon, load_lexicon, perturb, segment_words
from robust_xlt.stopwords import stopword_list

N_SENTENCES = 5000
RATE = 0.3
SEED = 11
FALLBACK = [
    "The big dog ran quickly to the large house near the river.",
    "Scientists announced an important discovery about ancient languages.",
    "A quick brown fox jumps over the lazy dog.",
]


XNLI = "xnli/dev-en.tsv"
TYDIQA = "tydiqa-goldp/tydiqa.goldp.en.train.json"
LEXICON = "lexicons/omw/wikt/wn-wikt-eng.tab"


def _english_sentences(xnli: Path, tydiqa: Path) -> list[str]:
    seen: dict[str, None] = {}
    with open(xnli, encoding="utf-8", newline="") as f:
        for premise, hypothesis, _ in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            seen.setdefault(premise)
            seen.setdefault(hypothesis)
    squad = json.loads(tydiqa.read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                seen.setdefault(qa["question"])
    return list(seen)[:N_SENTENCES]


@pytest.fixture(scope="module")
def real_files(shared_data) -> dict[str, Path] | None:
    """The three shared files, or None (the built-in fixture) when any is missing."""
    found = {name: shared_data.path(name) for name in (XNLI, TYDIQA, LEXICON)}
    return found if all(found.values()) else None  # type: ignore[return-value]


@pytest.fixture(scope="module")
def benchmark_data(real_files, shared_data) -> str:
    if real_files is None:
        return (
            f"built-in fixture, {len(FALLBACK)} sentences repeated to {N_SENTENCES}, 3-entry lexicon "
            f"({XNLI}, {TYDIQA} or {LEXICON} not in {shared_data.root}): not comparable with the README"
        )
    return (
        f"{N_SENTENCES} English sentences, the first unique ones of {shared_data.source(XNLI)} (premises, "
        f"hypotheses) then {shared_data.source(TYDIQA)} (questions); lexicon {shared_data.source(LEXICON)}"
    )


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory, real_files) -> tuple[list[str], Lexicon]:
    root = tmp_path_factory.mktemp("bench")
    if real_files is not None:
        texts = _english_sentences(real_files[XNLI], real_files[TYDIQA])
        lexicon = load_lexicon([real_files[LEXICON]])
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
    return synonyms, frozenset(stopword_list("en") or ())  # perturb's default, the function words


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
