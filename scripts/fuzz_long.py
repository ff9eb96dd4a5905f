"""A long fuzz run of the Rust core: the checks of tests/test_fuzz.py on random
batches, counted in inputs (texts or QA examples), not calls.

    nice python scripts/fuzz_long.py --inputs 1000000 --seed 0

Each round draws, from a generator of (seed, round) alone, hostile texts as the
Hypothesis strategies do (lexicon words, unspaced scripts, marks, joiners, bidi and
format characters, noncharacters, controls, astral characters, any code point) and
runs them through the public API, one batch per call: segmentation (with and
without the lexicon, every stop-word kind), `perturb` (random mode, rate, seed,
targets, protected spans, max_edits) against the pure-Python reference, the span
maps on random spans, `apply_edits` with random insertions, deletions and
replacements, QA train and eval features with two offline tokenizers, and now and
then a lexicon of random words and a 100,000-character text. A failing batch is
retried text by text to find the input that fails alone; failures are written as
JSON lines to --failures and the run goes on (exit status 1 if there were any).
`--seed S --first-round R --rounds 1` replays one round.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

# The checks live with the Hypothesis tests; tests/ goes on sys.path above, which a `mypy scripts` run does not see.
import test_fuzz as fuzz  # type: ignore[import-not-found]  # noqa: E402
from robust_xlt import apply_edits, load_lexicon, segment_words  # noqa: E402
from robust_xlt.stopwords import StopWords  # noqa: E402

TEXTS_PER_BATCH = 200
QA_PER_BATCH = 40
STOPWORDS: list[StopWords] = ["function", "full", "none"]


def random_char(rng: random.Random) -> str:
    """Any code point but a surrogate, half of them from the BMP."""
    while True:
        c = rng.randrange(0x10000) if rng.random() < 0.5 else rng.randrange(0x110000)
        if not 0xD800 <= c < 0xE000:
            return chr(c)


def random_piece(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.choice(fuzz.LEXICON_WORDS)
    if kind == 1:
        return "".join(rng.choice(fuzz.SCRIPTS) for _ in range(rng.randint(1, 6)))
    if kind == 2:
        return "".join(rng.choice(fuzz.HOSTILE) for _ in range(rng.randint(1, 3)))
    if kind == 3:
        return "".join(random_char(rng) for _ in range(rng.randint(1, 4)))
    return rng.choice(fuzz.SPACES)


def random_text(rng: random.Random) -> str:
    return "".join(random_piece(rng) for _ in range(rng.randint(0, 24)))


def random_spans(rng: random.Random, n: int, count: int) -> list[tuple[int, int]]:
    spans = []
    for _ in range(count):
        a = rng.randint(0, n)
        spans.append((a, rng.randint(a, n)))
    return spans


def perturb_options(rng: random.Random, texts: list[str]) -> tuple[str, dict]:
    lang = rng.choice(fuzz.LANGS)
    mode = rng.choice(["synonym", "codeswitch", "mixed"])
    targets = rng.sample(fuzz.TARGETS, rng.randint(1, 4))
    if mode != "synonym" and not set(targets) - {lang}:
        targets.append("de" if lang != "de" else "fr")
    protect = [random_spans(rng, len(t), rng.randint(0, 2)) for t in texts] if rng.random() < 0.5 else None
    return lang, dict(
        mode=mode,
        rate=rng.choice([0.0, 1.0, rng.random()]),
        seed=rng.randrange(2**64),
        target_langs=targets,
        protect=protect,
        max_edits=rng.choice([None, None, rng.randint(0, 4)]),
        stopwords=rng.choice(STOPWORDS),
    )


def random_edits(rng: random.Random, text: str) -> list[tuple[int, int, str, str]]:
    cuts = sorted(rng.randint(0, len(text)) for _ in range(rng.randint(0, 8)))
    replacements = ["", "", "x", "漢字", "\u0301", "\U0001f600"]
    return [
        (a, b, rng.choice(replacements) if rng.random() < 0.7 else random_text(rng), rng.choice(fuzz.TARGETS))
        for a, b in zip(cuts[::2], cuts[1::2])
    ]


def qa_example(rng: random.Random, i: int) -> fuzz.Example:
    def text() -> str:
        if rng.random() < 0.1:
            return random_text(rng)
        return random_text(rng) + rng.choice(fuzz.LEXICON_WORDS) + random_text(rng)

    question, context = text(), text()
    answers: tuple[fuzz.Answer, ...] = ()
    if context and rng.random() < 0.5:
        start = rng.randrange(len(context))
        end = rng.randint(start + 1, min(len(context), start + 40))
        answers = (fuzz.Answer(context[start:end], start),)
    return fuzz.Example(f"q{i}", question, context, answers)


class Run:
    """Counts inputs per target and records failures."""

    def __init__(self, failures: Path, seed: int) -> None:
        self.inputs: Counter[str] = Counter()
        self.failed = 0
        self.failures = failures
        self.seed = seed

    def check(self, target: str, round_: int, items: list, check, describe=repr) -> None:
        """Runs `check(items)`; on failure, retries item by item and records the
        first item that fails alone (else the whole batch)."""
        self.inputs[target] += len(items)
        try:
            check(items)
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as batch_error:  # a Rust panic is a BaseException
            culprit, error = items, batch_error
            for item in items:
                try:
                    check([item])
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as single_error:
                    culprit, error = [item], single_error
                    break
        self.failed += 1
        message = f"{type(error).__name__}: {str(error)[:2000]}"
        record = {
            "target": target,
            "seed": self.seed,
            "round": round_,
            "error": message,
            "traceback": traceback.format_exception(error)[-3:],
            "inputs": [describe(x)[:5000] for x in culprit],
        }
        with self.failures.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=True) + "\n")
        print(f"FAILURE {target} round {round_}: {message[:300]}", flush=True)


def one_round(run: Run, round_: int, lexicon, tokenizers, folder: Path) -> None:
    rng = random.Random(run.seed * 1_000_003 + round_)
    texts = [random_text(rng) for _ in range(TEXTS_PER_BATCH)]

    lang, stopwords, with_lexicon = rng.choice(fuzz.LANGS), rng.choice(STOPWORDS), rng.random() < 0.7
    lex = lexicon if with_lexicon else None
    run.check("segment", round_, texts, lambda ts: fuzz.check_words(ts, segment_words(ts, lang, lex, stopwords=stopwords)))

    lang, kw = perturb_options(rng, texts)
    spans_rng = random.Random(rng.random())

    def perturbation(indices: list[int]) -> None:
        ts = [texts[i] for i in indices]
        options = dict(kw, protect=[kw["protect"][i] for i in indices] if kw["protect"] else None)
        out = fuzz.check_perturb_call(ts, lang, lexicon, **options)
        for text, p in zip(ts, out):
            edges = [x for e in p.edits for x in e.original_span]
            spans = random_spans(spans_rng, len(text), 4) + [(a, b) for a in edges for b in edges if a <= b]
            fuzz.check_span_maps(text, p, spans)

    def describe(i: int) -> str:
        return repr((lang, dict(kw, protect=kw["protect"][i] if kw["protect"] else None), texts[i]))

    run.check("perturb", round_, list(range(len(texts))), perturbation, describe=describe)

    edits = {i: random_edits(rng, t) for i, t in enumerate(texts)}

    def edited(indices: list[int]) -> None:
        ts, es = [texts[i] for i in indices], [edits[i] for i in indices]
        out = apply_edits(ts, es)
        fuzz.check_apply_edits(ts, es, out)
        for text, p, text_edits in zip(ts, out, es):
            cuts = sorted({x for a, b, _, _ in text_edits for x in (a, b)} | {0, len(text)})
            spans = random_spans(spans_rng, len(text), 4) + [(a, b) for a in cuts for b in cuts if a <= b]
            fuzz.check_span_maps(text, p, spans)

    run.check("apply_edits", round_, list(edits), edited, describe=lambda i: repr((texts[i], edits[i])))

    examples = [qa_example(rng, i) for i in range(QA_PER_BATCH)]
    name, setting = rng.choice(sorted(tokenizers)), rng.choice(fuzz.QA_SETTINGS)
    run.check(
        "qa",
        round_,
        examples,
        lambda exs: fuzz.check_qa(exs, tokenizers[name], setting),
        describe=lambda ex: repr((name, setting, ex.question, ex.context, [(a.text, a.start) for a in ex.answers])),
    )

    if round_ % 20 == 0:  # a lexicon of random words, which must load or be refused cleanly
        words = [random_text(rng)[:6] or "x" for _ in range(8)]
        path = folder / "random.tsv"
        path.write_text("".join(f"{lang}\t{a}\t{lang}\t{b}\n" for a, b in zip(words, words[1:] + words[:1])), encoding="utf-8")

        def random_lexicon(ts: list[str]) -> None:
            try:
                lex = load_lexicon([path])
            except ValueError as err:
                assert str(path) in str(err), str(err)
                return
            fuzz.check_words(ts, segment_words(ts, lang, lex, stopwords="none"))
            fuzz.check_perturb_call(ts, lang, lex, mode="synonym", rate=1.0, seed=0, stopwords="none")

        run.check("random_lexicon", round_, texts[:50], random_lexicon, describe=lambda t: repr((words, t)))

    if round_ % 200 == 0:  # one 100,000-character text
        parts = (random_text(rng), "".join(random_piece(rng) for _ in range(rng.randint(1, 2))) or "a", random_text(rng))
        long = fuzz.long_text(*parts)

        def long_input(ts: list[str]) -> None:
            fuzz.check_words(ts, segment_words(ts, lang, lexicon))
            options = dict(mode="mixed", rate=0.5, seed=round_, target_langs=fuzz.TARGETS, max_edits=None, stopwords="function")
            out = fuzz.check_perturb_call(ts, lang, lexicon, **options)
            fuzz.check_span_maps(ts[0], out[0], random_spans(spans_rng, len(ts[0]), 8))
            fuzz.check_qa([fuzz.Example("long", "q?", ts[0], ())], tokenizers["unigram"], fuzz.QA_SETTINGS[0])

        run.check("long", round_, [long], long_input, describe=lambda _: repr(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000, help="stop after this many inputs (texts or QA examples)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first-round", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=None, help="stop after this many rounds (default: no limit)")
    parser.add_argument("--failures", type=Path, default=Path("fuzz-failures.jsonl"), help="JSON lines, appended")
    parser.add_argument("--log-every", type=float, default=30.0, help="seconds between progress lines")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="robust-xlt-fuzz-"))
    lexicon, tokenizers = fuzz.fuzz_lexicon(folder), fuzz.fuzz_tokenizers()
    run = Run(args.failures, args.seed)
    began = last_log = time.monotonic()
    round_ = args.first_round

    def log(final: bool = False) -> None:
        total, elapsed = sum(run.inputs.values()), time.monotonic() - began
        per_target = " ".join(f"{k} {v:,}" for k, v in sorted(run.inputs.items()))
        print(
            f"{'done' if final else 'fuzz'} | round {round_} | {total:,} inputs | {total / max(elapsed, 1e-9):,.0f}/s "
            f"| {per_target} | failures {run.failed} | {elapsed:,.0f} s",
            flush=True,
        )

    while sum(run.inputs.values()) < args.inputs and (args.rounds is None or round_ < args.first_round + args.rounds):
        one_round(run, round_, lexicon, tokenizers, folder)
        round_ += 1
        if time.monotonic() - last_log >= args.log_every:
            log()
            last_log = time.monotonic()
    log(final=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
