"""Task metrics: accuracy, and SQuAD v1.1 F1 / exact match with a language-aware variant.

Every score is a percentage (0 to 100), the scale published XTREME numbers use.

The official SQuAD v1.1 normaliser (``squad_*``) lower-cases, deletes ASCII
punctuation (``string.punctuation``), drops the English articles a/an/the and
collapses whitespace; F1 is over whitespace tokens. XTREME reports it for every
language, and it is English-centric: a Chinese or Thai answer has no spaces, so it
is one token and F1 degenerates to 0 or 100; ``「」``, ``«»`` or ``。`` are kept as
part of the words they touch.

The language-aware normaliser (``lang_*``) instead applies NFC and ``casefold``,
deletes every Unicode punctuation character (category P*) as well as the ASCII
punctuation the official one deletes (which includes symbols such as ``$`` and
``+``), drops no articles, and splits text of scripts written without spaces
(Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar, Tibetan) into characters, a
character keeping its combining marks; runs of other scripts stay whitespace
tokens, so ``iPhone手机`` gives ``iphone``, ``手``, ``机``. Exact match compares the
token sequences, so spaces between such characters do not matter.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

logger = logging.getLogger(__name__)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)

# Code-point ranges (inclusive) of scripts written without spaces between words.
_NO_SPACE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0E7F),  # Thai
    (0x0E80, 0x0EFF),  # Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x3005, 0x3007),  # iteration and closing marks, ideographic zero: used inside Han words
    (0x3040, 0x309F),  # Hiragana
    (0x30A0, 0x30FF),  # Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # Han, extension A
    (0x4E00, 0x9FFF),  # Han
    (0xA9E0, 0xA9FF),  # Myanmar extended B
    (0xAA60, 0xAA7F),  # Myanmar extended A
    (0xF900, 0xFAFF),  # Han compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x1B000, 0x1B16F),  # Kana supplement and extended
    (0x20000, 0x323AF),  # Han, extensions B to H
)
_RANGE_STARTS = [lo for lo, _ in _NO_SPACE_RANGES]


def accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Percentage of positions where ``preds`` equals ``labels``."""
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("accuracy of no examples is undefined")
    correct = sum(int(p) == int(y) for p, y in zip(preds, labels, strict=True))
    return 100.0 * correct / len(labels)


def normalize_squad(text: str) -> str:
    """The official SQuAD v1.1 answer normaliser."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def squad_tokens(text: str) -> list[str]:
    return normalize_squad(text).split()


def normalize_lang(text: str) -> str:
    """Language-aware normaliser: NFC, casefold, all punctuation deleted, whitespace collapsed."""
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join("".join(ch for ch in text if not _is_punctuation(ch)).split())


def lang_tokens(text: str) -> list[str]:
    """Whitespace tokens, with characters of no-space scripts as tokens of their own."""
    tokens: list[str] = []
    for word in normalize_lang(text).split():
        run = ""  # pending characters of spaced scripts
        after_char_token = False  # whether tokens[-1] is a single no-space character
        for ch in word:
            if after_char_token and unicodedata.category(ch).startswith("M"):
                tokens[-1] += ch  # a vowel sign or tone mark belongs to its base
            elif _is_no_space_script(ch):
                if run:
                    tokens.append(run)
                    run = ""
                tokens.append(ch)
                after_char_token = True
            else:
                run += ch
                after_char_token = False
        if run:
            tokens.append(run)
    return tokens


def squad_f1(prediction: str, gold: str) -> float:
    """Official token F1 in [0, 1]; 0 when either side normalises to nothing, as in v1.1."""
    return _f1(squad_tokens(prediction), squad_tokens(gold))


def squad_exact(prediction: str, gold: str) -> float:
    return float(normalize_squad(prediction) == normalize_squad(gold))


def lang_f1(prediction: str, gold: str) -> float:
    """Language-aware token F1 in [0, 1]; 1 when both sides normalise to nothing."""
    pred, ref = lang_tokens(prediction), lang_tokens(gold)
    if not pred and not ref:
        return 1.0
    return _f1(pred, ref)


def lang_exact(prediction: str, gold: str) -> float:
    return float(lang_tokens(prediction) == lang_tokens(gold))


def squad_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    lang: str | None = None,
) -> dict[str, float]:
    """SQuAD-style scores over ``references``' questions, each the max over its gold answers.

    Returns ``f1`` and ``exact_match`` (official v1.1), ``lang_f1`` and
    ``lang_exact_match`` (language-aware), all percentages, plus ``count`` (questions)
    and ``missing`` (questions without a prediction: they score 0, as in the official
    script, and are logged). A prediction for an id with no reference is a ValueError,
    since it means ids were mismatched. ``lang`` only labels the log line: the
    language-aware normaliser decides per character by script.
    """
    if not references:
        raise ValueError("no references to score")
    extra = [qid for qid in predictions if qid not in references]
    if extra:
        raise ValueError(f"{len(extra)} prediction id(s) have no reference, e.g. {extra[:5]}")
    totals = dict.fromkeys(SQUAD_METRICS, 0.0)
    missing = 0
    for qid, golds in references.items():
        prediction = predictions.get(qid)
        if prediction is None:
            _check_golds(qid, golds)
            missing += 1
            continue
        for name, value in squad_example_scores(qid, prediction, golds).items():
            totals[name] += value
    count = len(references)
    if missing:
        logger.warning(
            "%s: %d of %d questions have no prediction and score 0", lang or "squad", missing, count
        )
    return {
        **{k: 100.0 * v / count for k, v in totals.items()},
        "count": float(count),
        "missing": float(missing),
    }


SQUAD_METRICS: tuple[str, ...] = ("f1", "exact_match", "lang_f1", "lang_exact_match")
_SCORERS: dict[str, Callable[[str, str], float]] = {
    "f1": squad_f1,
    "exact_match": squad_exact,
    "lang_f1": lang_f1,
    "lang_exact_match": lang_exact,
}


def squad_example_scores(qid: str, prediction: str, golds: Sequence[str]) -> dict[str, float]:
    """One question's scores in [0, 1], each the max over its gold answers; the mean of
    these over a language times 100 is what :func:`squad_scores` reports."""
    _check_golds(qid, golds)
    return {name: max(score(prediction, gold) for gold in golds) for name, score in _SCORERS.items()}


def _f1(pred: list[str], gold: list[str]) -> float:
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def _check_golds(qid: str, golds: Sequence[str]) -> None:
    if isinstance(golds, str):
        raise ValueError(f"references[{qid!r}] must be a list of answers, got the string {golds!r}")
    if len(golds) == 0:
        raise ValueError(f"references[{qid!r}] has no gold answer")


def _is_punctuation(ch: str) -> bool:
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def _is_no_space_script(ch: str) -> bool:
    cp = ord(ch)
    i = bisect_right(_RANGE_STARTS, cp) - 1
    return i >= 0 and cp <= _NO_SPACE_RANGES[i][1]
