"""First-order ranking of substitutions from one gradient pass.

Let G_p be the gradient of an example's loss w.r.t. the embedding e_p of input piece
p, and P(w) the pieces of word w (tokens whose code-point span overlaps the word's, in
any row of the example). Replacing every piece of w by the candidate c's mean piece
embedding c̄ changes the loss, to first order, by

    Δ(w -> c) = Σ_{p in P(w)} (c̄ - e_p) · G_p = c̄ · g_w - Σ_p e_p · G_p,   g_w = Σ_p G_p

so one matrix product over (word, candidate) pairs scores every substitution of the
batch. The importance of a word is ||(G_p)_{p in P(w)}||_2, the gradient norm over its
pieces. A word with no piece in the model's input (truncated away) cannot change the
prediction and is not ranked, nor is a candidate the tokenizer gives no piece.

Cost: the gradient pass (one forward and backward), one tokenizer call for the batch's
distinct candidates, and O(pieces + pairs x dim) tensor work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from robust_xlt import _core
from robust_xlt.adversary.config import Ranking
from robust_xlt.adversary.space import ExampleSpace
from robust_xlt.adversary.victims import GradientPass, Victim

__all__ = ["ExampleRanking", "align_words", "rank", "words_of"]


@dataclass(frozen=True)
class ExampleRanking:
    # Indices into the example's substitutions, best first; unrankable ones left out.
    order: tuple[int, ...]
    # First-order loss change of each substitution (nan where unrankable).
    estimate: np.ndarray
    # Gradient norm of each substitution's word (nan where the word has no piece).
    importance: np.ndarray


def words_of(space: ExampleSpace) -> tuple[list[tuple[int, int, int]], list[int]]:
    """The example's distinct words (slot, start, end) in order, and each substitution's word."""
    index: dict[tuple[int, int], int] = {}
    words: list[tuple[int, int, int]] = []
    of = []
    for s in space.substitutions:
        key = (s.slot, s.start)
        if key not in index:
            index[key] = len(words)
            words.append((s.slot, s.start, s.end))
        of.append(index[key])
    return words, of


def align_words(words: Sequence[Sequence[tuple[int, int, int]]], grads: GradientPass) -> tuple[np.ndarray, np.ndarray]:
    """(flat token index, word index) pairs: each token of a row with every word of its
    owner's same text that its span overlaps; word indices run over all examples'
    words in order. A piece that straddles two words (an unsegmented Han run) counts
    for both. Row-major over tokens, then by word start; one core call for the batch.
    The words of one text must not overlap (ValueError), as a segmentation's never do."""
    return _core.align_words(
        words,
        np.asarray(grads.row_owner, dtype=np.int64),
        np.asarray(grads.token_slot, dtype=np.int64),
        np.asarray(grads.token_start, dtype=np.int64),
        np.asarray(grads.token_end, dtype=np.int64),
    )


def rank(spaces: Sequence[ExampleSpace], grads: GradientPass, victim: Victim, mode: Ranking) -> list[ExampleRanking]:
    """Each example's substitutions in the order the search tries them (module docstring)."""
    per_example = [words_of(space) for space in spaces]
    words = [w for w, _ in per_example]
    tokens, owner = align_words(words, grads)
    n_words = sum(len(w) for w in words)
    dim = grads.grad.shape[-1]
    flat_grad = grads.grad.reshape(-1, dim).float()
    flat_embed = grads.embeds.reshape(-1, dim).float()
    device = flat_grad.device
    tok, wid = torch.from_numpy(tokens).to(device), torch.from_numpy(owner).to(device)
    g_tok = flat_grad[tok]
    word_grad = torch.zeros(n_words, dim, device=device).index_add_(0, wid, g_tok)
    word_dot = torch.zeros(n_words, device=device).index_add_(0, wid, (flat_embed[tok] * g_tok).sum(-1))
    word_sq = torch.zeros(n_words, device=device).index_add_(0, wid, (g_tok * g_tok).sum(-1))
    has_piece = torch.zeros(n_words, dtype=torch.bool, device=device)
    has_piece[wid] = True

    distinct = sorted({s.replacement for space in spaces for s in space.substitutions})
    cand_index = {c: i for i, c in enumerate(distinct)}
    means, has_cand = _mean_piece_embeddings(victim, distinct)
    means, has_cand = means.to(device), has_cand.to(device)

    sub_word: list[int] = []
    sub_cand: list[int] = []
    offset = 0
    for (ws, of), space in zip(per_example, spaces, strict=True):
        sub_word.extend(offset + w for w in of)
        sub_cand.extend(cand_index[s.replacement] for s in space.substitutions)
        offset += len(ws)
    sw = torch.tensor(sub_word, dtype=torch.long, device=device)
    sc = torch.tensor(sub_cand, dtype=torch.long, device=device)
    first_order = (means[sc] * word_grad[sw]).sum(-1) - word_dot[sw]
    valid = has_piece[sw] & has_cand[sc]
    nan = torch.full_like(first_order, float("nan"))
    estimate = torch.where(valid, first_order, nan).double().cpu().numpy()
    importance = torch.where(has_piece[sw], word_sq[sw].sqrt(), nan).double().cpu().numpy()
    usable = valid.cpu().numpy()
    out, at = [], 0
    for space in spaces:
        m = len(space.substitutions)
        est, imp, ok = estimate[at : at + m], importance[at : at + m], usable[at : at + m]
        at += m
        idx = [i for i in range(m) if ok[i]]
        if mode == "gradient":
            idx.sort(key=lambda i: -est[i])
        else:  # words by importance; a word's candidates by their first-order change
            idx.sort(key=lambda i: (-imp[i], -est[i]))
        out.append(ExampleRanking(tuple(idx), est, imp))
    return out


def _mean_piece_embeddings(victim: Victim, words: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """[len(words), dim] mean piece embedding of each word (tokenized once, alone), and
    whether it has any piece."""
    matrix = victim.embedding_matrix().detach()
    ids = victim.piece_ids(words)
    counts = torch.tensor([len(p) for p in ids], dtype=torch.float32)
    flat = torch.tensor([i for p in ids for i in p], dtype=torch.long)
    owner = torch.repeat_interleave(torch.arange(len(ids)), counts.long())
    with torch.no_grad():
        sums = torch.zeros(len(ids), matrix.shape[1]).index_add_(0, owner, matrix[flat.to(matrix.device)].float().cpu())
    return sums / counts.clamp(min=1).unsqueeze(1), counts > 0
