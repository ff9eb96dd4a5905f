"""Lexicon loading in its three formats, lookups, and errors."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from robust_xlt import FormatError, Lexicon, load_lexicon


def test_tsv_lookups_ignore_case_and_cover_every_fixture_language(fixture_lexicon: Lexicon) -> None:
    assert fixture_lexicon.synonyms("BIG", "en") == ["huge", "large"]
    assert fixture_lexicon.translations("House", "eng", "swa") == ["nyumba"]
    assert set(fixture_lexicon.languages()) >= {"en", "de", "hi", "bn", "te", "th", "zh", "ja", "ar", "ko", "sw"}
    assert fixture_lexicon.synonyms("unknown-word", "en") == []


def test_multiword_lemmas_are_kept_as_replacements(fixture_lexicon: Lexicon) -> None:
    assert fixture_lexicon.multiword_entries == 1
    assert fixture_lexicon.translations("Eis", "de", "en") == ["ice cream"]


def test_omw_tab_and_muse_formats(tmp_path: Path) -> None:
    (tmp_path / "wn-eng.tab").write_text(
        "# Test\teng\turl\tlicence\n1-n\teng:lemma\tdog\n1-n\teng:lemma\tdomestic_dog\n1-n\teng:def\t0\tan animal\n",
        encoding="utf-8",
    )
    (tmp_path / "wn-swa.tab").write_text("# Test\tswa\turl\tlicence\n1-n\tswa:lemma\tmbwa\n", encoding="utf-8")
    (tmp_path / "en-de.txt").write_text("dog Hund\ndog Köter\n", encoding="utf-8")
    lex = Lexicon.from_files([tmp_path / "wn-eng.tab", tmp_path / "wn-swa.tab", tmp_path / "en-de.txt"])
    assert lex.synonyms("dog", "en") == ["domestic dog"]
    assert lex.translations("dog", "en", "sw") == ["mbwa"]
    assert lex.translations("dog", "en", "de") == ["Hund", "Köter"]
    assert lex.translations("mbwa", "sw", "de") == []  # MUSE pairs are not synsets


def test_empty_omw_lemmas_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "wn.tab"
    path.write_text("# T\teng\tu\tl\n1-n\teng:lemma\t\n1-n\teng:lemma\tcat\n", encoding="utf-8")
    lex = load_lexicon([path])
    assert lex.skipped_lines == [(str(path), 2, 'empty lemma in "1-n\\teng:lemma\\t"')]


@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("bad.tsv", "en\tbig\ten\tlarge\nen\tbig\ten\n", 2),
        ("bad.tsv", "en\tbig\tqq\tlarge\n", 1),
        ("en-de.txt", "dog Hund\ncat\n", 2),
        ("bad.tab", "# T\teng\tu\tl\n1-n\tqqq:lemma\tword\n", 2),
        ("bad.tab", "# T\teng\tu\tl\n1-n\n", 2),
    ],
)
def test_malformed_lines_name_path_and_line(tmp_path: Path, name: str, content: str, line: int) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError, match=f"{name}:{line}:"):
        Lexicon.from_files([path])


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        Lexicon.from_files([tmp_path / "nope.tsv"])


def test_undetectable_format_and_unknown_format_name(tmp_path: Path) -> None:
    path = tmp_path / "words.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="words.json"):
        Lexicon.from_files([path])
    with pytest.raises(ValueError, match="'xml'|\"xml\""):
        Lexicon.from_files([path], format="xml")


def test_non_utf8_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.tsv"
    path.write_bytes("en\tbig\ten\tlarge\n".encode() + "en\tgroß\ten\tx\n".encode("latin-1"))
    with pytest.raises(FormatError, match="latin1.tsv:2: not valid UTF-8"):
        Lexicon.from_files([path])


def test_lexicon_is_shared_across_threads(fixture_lexicon: Lexicon) -> None:
    results: list[list[str]] = []

    def lookup() -> None:
        for _ in range(200):
            results.append(fixture_lexicon.synonyms("big", "en"))

    threads = [threading.Thread(target=lookup) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 800 and all(r == ["huge", "large"] for r in results)


@pytest.mark.shared_data
def test_real_omw_and_muse_lexicons_load(shared_lexicon: Lexicon) -> None:
    langs = set(shared_lexicon.languages())
    assert {"en", "sw", "te", "ur", "bn", "zh", "ja", "th"} <= langs
    assert "mbwa" in shared_lexicon.translations("dog", "en", "sw")
    assert "Hund" in shared_lexicon.translations("dog", "en", "de")
    assert "large" in shared_lexicon.synonyms("big", "en")
    # The Wiktionary English file has rows with an empty lemma: skipped, counted.
    assert len(shared_lexicon.skipped_lines) > 0
    assert all(reason.startswith("empty lemma") for _, _, reason in shared_lexicon.skipped_lines)
