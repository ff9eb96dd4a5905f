"""QA training features: run_qa.py-style Python preparation vs the Rust batch call.

    pytest benches/bench_qa_features.py --benchmark-only   # timed, all the data
    pytest benches/                                         # each case once, 200 examples

All cases use one tokenizer and one data set: TyDiQA-GoldP English train (3696
examples) from the shared data, found as the tests find it ($ROBUST_XLT_DATA, else
../shared/data; archive or unpacked folder), else the test fixtures replicated (not
comparable with the README; the run prints which it used); the
tokenizer.json named by $ROBUST_XLT_QA_TOKENIZER if set, else the e5 tokenizer once
build_e5_tokenizer exists, else a Unigram trained on the data. Questions longer than
64 tokens are left out: run_qa.py does not cut questions, so only there do both sides
mean the same. The labels must equal the reference's up to the differences
tests/test_qa_features.py documents.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from robust_xlt import qa


def _load_reference():
    """tests/test_qa_features.py, for its reference, fixtures and data loader (tests/
    is not a package, and a plain `pytest benches/` does not put it on sys.path)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "test_qa_features.py"
    spec = importlib.util.spec_from_file_location("_qa_features_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
SETTING = dict(max_length=384, stride=128)
MAX_QUERY_LENGTH = 64
TYDIQA = "tydiqa-goldp/tydiqa.goldp.en.train.json"
FIXTURE_COPIES = 200
pytestmark = pytest.mark.benchmark(group="qa-train-features")


@pytest.fixture(scope="module")
def timed(request) -> bool:
    return bool(request.config.getoption("benchmark_only", False))


@pytest.fixture(scope="module")
def tydiqa_path(shared_data) -> Path | None:
    return shared_data.path(TYDIQA)


@pytest.fixture(scope="module")
def data(tydiqa_path, timed):
    if tydiqa_path is not None:
        examples = ref.load_squad_json(tydiqa_path)
    else:
        examples = ref.FIXTURES * FIXTURE_COPIES
    if os.environ.get("ROBUST_XLT_QA_TOKENIZER"):
        tok = Tokenizer.from_file(os.environ["ROBUST_XLT_QA_TOKENIZER"])
    else:
        tok = ref.e5_tokenizer() or ref.unigram_tokenizer(
            [ex.context for ex in examples[:300]] + ref.training_text(), split_whitespace=False, vocab_size=4000
        )
    hf = ref.wrap(tok)
    lengths = hf([ex.question.lstrip() for ex in examples], add_special_tokens=False)["input_ids"]
    examples = [ex for ex, ids in zip(examples, lengths) if len(ids) <= MAX_QUERY_LENGTH]
    return (examples if timed else examples[:200]), hf


@pytest.fixture(scope="module")
def benchmark_data(data, tydiqa_path, shared_data, timed) -> str:
    examples, _ = data
    kept = f"{len(examples)} examples{'' if timed else ' (the first 200: untimed run)'}"
    if tydiqa_path is None:
        return (
            f"built-in fixture, {len(ref.FIXTURES)} examples x {FIXTURE_COPIES} copies, {kept} kept "
            f"({TYDIQA} not in {shared_data.root}): not comparable with the README"
        )
    return f"{shared_data.source(TYDIQA)}: {kept} with questions of at most {MAX_QUERY_LENGTH} tokens"


def run(benchmark, timed: bool, fn):
    """Timed rounds under --benchmark-only; otherwise one untimed-in-spirit call."""
    if timed:
        return benchmark(fn)
    return benchmark.pedantic(fn, rounds=1, iterations=1)


def assert_same_labels(ours: dict, examples, hf) -> None:
    reference = ref.run_qa_features(examples, hf, train=True, **SETTING)
    for key in [*hf.model_input_names, "overflow_to_sample_mapping"]:
        np.testing.assert_array_equal(ours[key], reference[key], err_msg=key)
    ours_labels = np.stack([ours["start_positions"], ours["end_positions"]], axis=1)
    ref_labels = np.stack([reference["start_positions"], reference["end_positions"]], axis=1)
    for i in np.nonzero((ours_labels != ref_labels).any(axis=1))[0]:
        label = (int(ours_labels[i, 0]), int(ours_labels[i, 1]))
        ex = examples[reference["overflow_to_sample_mapping"][i]]
        assert ref.explain(label, reference, i, ex) is not None, (i, ex.id)


def test_run_qa_python(benchmark, timed, data):
    examples, hf = data
    features = run(benchmark, timed, lambda: ref.run_qa_features(examples, hf, train=True, **SETTING))
    assert len(features["input_ids"]) >= len(examples)


def test_rust(benchmark, timed, data):
    examples, hf = data
    features = run(
        benchmark,
        timed,
        lambda: qa.prepare_train_features(examples, hf, max_query_length=MAX_QUERY_LENGTH, **SETTING),
    )
    assert_same_labels(features, examples, hf)


def test_rust_qa_tokenizer(benchmark, timed, data):
    """The Rust call given a QATokenizer built once: no tokenizer JSON per call."""
    examples, hf = data
    built = qa.QATokenizer(hf)
    features = run(
        benchmark,
        timed,
        lambda: qa.prepare_train_features(examples, built, max_query_length=MAX_QUERY_LENGTH, **SETTING),
    )
    assert_same_labels(features, examples, hf)


def test_rust_4_threads(benchmark, timed, data):
    """The batch in four quarters from four Python threads at once: as fast as one
    call only if the GIL is released while Rust works."""
    examples, hf = data
    quarters = [examples[i::4] for i in range(4)]

    def four_threads():
        with ThreadPoolExecutor(4) as pool:
            return list(
                pool.map(
                    lambda part: qa.prepare_train_features(part, hf, max_query_length=MAX_QUERY_LENGTH, **SETTING),
                    quarters,
                )
            )

    parts = run(benchmark, timed, four_threads)
    for part, features in zip(quarters, parts):
        assert_same_labels(features, part, hf)
