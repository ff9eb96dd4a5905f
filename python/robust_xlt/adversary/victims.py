"""The model under attack, seen by the search: a gradient pass that says which input
token belongs to which text and code points, and batched queries that score variants.

A victim knows how a task's examples become model inputs and what the attack's goal
is; the search knows neither. ``victim_for`` picks the victim of a task by its example
type. Slots (an example's texts) are numbered as the task's ``rewrite`` lists them:
pairs (text_a, text_b), QA (question, context).

- Pairs: rows are examples; the goal is a predicted label other than gold, the score
  1 - p(gold) (TextAttack's untargeted classification).
- QA: rows are the task's windows, each owned by the example it cuts; the goal is a
  predicted answer sharing no token with any gold answer (SQuAD F1 0), the score
  1 - F1. Answers are protected, so every variant keeps them.

Every pass runs in the model's current mode; ``attack`` sets eval (no dropout), so a
query's score is a function of its text. A victim may search in bf16 (autocast over
the gradient pass and the queries); ``query(..., exact=True)`` always runs in fp32,
which the search uses for the clean scores and to check what it found.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from robust_xlt.data import PairExample, QAExample
from robust_xlt.tasks import InputSettings

__all__ = ["GradientPass", "PairVictim", "QAVictim", "Queries", "Victim", "search_dtype", "victim_for"]


@dataclass(frozen=True)
class GradientPass:
    """Gradient of the summed loss w.r.t. the word embeddings of every input row.

    ``row_owner[r]`` is the example of row r. Per token: ``token_slot`` (which of the
    owner's texts it comes from; -1 for special and padding tokens) and its code-point
    span [``token_start``, ``token_end``) in that text."""

    row_owner: np.ndarray  # [rows] int
    token_slot: np.ndarray  # [rows, length] int
    token_start: np.ndarray  # [rows, length] int
    token_end: np.ndarray  # [rows, length] int
    embeds: torch.Tensor  # [rows, length, dim], detached
    grad: torch.Tensor  # [rows, length, dim]


@dataclass(frozen=True)
class Queries:
    """Model answers, one entry per queried example: ``score`` rises as it nears the
    attack's goal, ``success`` says the goal is reached, ``embedding`` is the unit-norm
    mean-pooled last hidden state when asked for."""

    score: np.ndarray  # [n] float64
    success: np.ndarray  # [n] bool
    prediction: list[Any]
    embedding: torch.Tensor | None  # [n, hidden] or None


class Victim(Protocol):
    # The dtype the search's passes autocast to; None: fp32 throughout.
    search_dtype: torch.dtype | None

    def gradient(self, examples: Sequence[Any]) -> GradientPass: ...

    def query(self, examples: Sequence[Any], *, embed: bool, exact: bool = False) -> Queries: ...

    def embedding_matrix(self) -> torch.Tensor: ...

    def piece_ids(self, words: Sequence[str]) -> list[list[int]]: ...


# One chunk of a gradient pass: slot, start, end [rows, length], embeds, grad [rows, length, dim].
_Chunk = tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor, torch.Tensor]


class _Base:
    def __init__(
        self, task: Any, model: Any, tokenizer: Any, settings: InputSettings, batch_size: int, dtype: torch.dtype | None = None
    ) -> None:
        self.task, self.model, self.tokenizer = task, model, tokenizer
        self.settings, self.batch_size = settings, batch_size
        self.device = next(model.parameters()).device
        self.search_dtype = dtype

    @contextlib.contextmanager
    def _precision(self, exact: bool) -> Iterator[None]:
        """Autocast to the search dtype unless ``exact`` (or there is none)."""
        if exact or self.search_dtype is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.search_dtype):
            yield

    def embedding_matrix(self) -> torch.Tensor:
        return self.model.get_input_embeddings().weight

    def piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(words), add_special_tokens=False)["input_ids"] if words else []

    def _backward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings, gradient) of one chunk: one forward and one backward pass,
        autograd.grad w.r.t. the input embeddings only, so the parameters' gradients
        are left as they were."""
        batch = {k: v.to(self.device) for k, v in batch.items()}
        embeds = self.model.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)
        inputs = {k: v for k, v in batch.items() if k in ("attention_mask", "token_type_ids")}
        with self._precision(exact=False):
            out = self.model(inputs_embeds=embeds, **inputs)
            # The task's mean loss times the rows: each row's gradient is its own loss's.
            loss = self.task.loss(out, batch) * len(embeds)
        (grad,) = torch.autograd.grad(loss, embeds)
        return embeds.detach(), grad.detach().float()

    def _join(self, owner: np.ndarray, parts: list[_Chunk]) -> GradientPass:
        """Chunks padded to the widest and stacked."""
        width = max((p[0].shape[1] for p in parts), default=0)
        dim = self.embedding_matrix().shape[1]

        def tokens(k: int, fill: int) -> np.ndarray:
            arrays: list[np.ndarray] = [p[k] for p in parts]  # type: ignore[misc]
            if not arrays:
                return np.zeros((0, 0), dtype=np.int64)
            return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill) for a in arrays])

        def vectors(k: int) -> torch.Tensor:
            tensors: list[torch.Tensor] = [p[k] for p in parts]  # type: ignore[misc]
            if not tensors:
                return torch.zeros(0, 0, dim)
            return torch.cat([torch.nn.functional.pad(a, (0, 0, 0, width - a.shape[1])) for a in tensors])

        return GradientPass(owner, tokens(0, -1), tokens(1, 0), tokens(2, 0), vectors(3), vectors(4))


class PairVictim(_Base):
    """Sentence-pair classification (PAWS-X, XNLI) with the task's encoding: the pair
    through the tokenizer, longest side truncated first, padded to the batch's longest.

    Costs: ``gradient`` one forward and one backward pass per ``batch_size`` examples;
    ``query`` one forward pass per ``batch_size`` examples, no graph, sorted by length
    so padding stays short."""

    def _encode(self, examples: Sequence[PairExample], offsets: bool = False) -> Any:
        # The arguments of robust_xlt.tasks.pair_classification.encode, plus offsets.
        return self.tokenizer(
            [ex.text_a for ex in examples],
            [ex.text_b for ex in examples],
            truncation="longest_first",
            max_length=self.settings.max_length,
            padding="longest",
            return_tensors="pt",
            return_offsets_mapping=offsets,
        )

    def gradient(self, examples: Sequence[PairExample]) -> GradientPass:
        parts = []
        for at in range(0, len(examples), self.batch_size):
            chunk = examples[at : at + self.batch_size]
            enc = self._encode(chunk, offsets=True)
            slot = np.array([[-1 if s is None else s for s in enc.sequence_ids(r)] for r in range(len(chunk))], dtype=np.int64)
            offsets = enc.pop("offset_mapping").numpy().astype(np.int64)
            batch = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
            batch["labels"] = torch.tensor([ex.label for ex in chunk])
            embeds, grad = self._backward(batch)
            parts.append((slot, offsets[..., 0], offsets[..., 1], embeds, grad))
        return self._join(np.arange(len(examples)), parts)

    @torch.inference_mode()
    def query(self, examples: Sequence[PairExample], *, embed: bool, exact: bool = False) -> Queries:
        with self._precision(exact):
            return self._query(examples, embed)

    def _query(self, examples: Sequence[PairExample], embed: bool) -> Queries:
        n = len(examples)
        order = sorted(range(n), key=lambda i: len(examples[i].text_a) + len(examples[i].text_b))
        probs = np.zeros((n, self.model.config.num_labels), dtype=np.float64)
        pooled: torch.Tensor | None = None
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self._encode([examples[i] for i in idx])
            inputs = {k: enc[k].to(self.device) for k in ("attention_mask", "token_type_ids") if k in enc}
            out = self.model(input_ids=enc["input_ids"].to(self.device), **inputs, output_hidden_states=embed)
            probs[idx] = torch.softmax(out.logits.float(), dim=-1).cpu().numpy()
            if embed:
                mask = inputs["attention_mask"].unsqueeze(-1).float()
                mean = (out.hidden_states[-1].float() * mask).sum(1) / mask.sum(1).clamp(min=1)
                mean = torch.nn.functional.normalize(mean, dim=-1).cpu()
                if pooled is None:
                    pooled = torch.zeros(n, mean.shape[1])
                pooled[idx] = mean
        gold = np.array([ex.label for ex in examples], dtype=np.int64)
        prediction = probs.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
        score = 1.0 - probs[np.arange(n), gold] if n else np.zeros(0)
        return Queries(score=score, success=prediction != gold, prediction=prediction.tolist(), embedding=pooled)


class QAVictim(_Base):
    """Extractive QA through the task's own windows (the Rust core's features).

    The gradient pass labels each window as training does (the first answer's token
    span, CLS when outside) and maps tokens back to text: context tokens by the eval
    features' offsets, question tokens by tokenizing each question alone and matching
    its pieces after the window's first special token (a question the core cut short
    matches a prefix). Costs: ``gradient`` one core call for train and one for eval
    features, one tokenizer call for the questions, then one forward and backward pass
    per ``batch_size`` windows (padding trimmed); ``query`` the task's ``predict``
    (windows, forward passes, answer decoding) on all variants at once. The
    similarity constraint is not offered: a window is not a sentence."""

    def __init__(
        self, task: Any, model: Any, tokenizer: Any, settings: InputSettings, batch_size: int, dtype: torch.dtype | None = None
    ) -> None:
        from robust_xlt.qa import QATokenizer

        qa_tokenizer = settings.qa_tokenizer if settings.qa_tokenizer is not None else QATokenizer(tokenizer)
        settings = dataclasses.replace(settings, qa_tokenizer=qa_tokenizer, eval_batch_size=batch_size)
        super().__init__(task, model, tokenizer, settings, batch_size, dtype)

    def _features(self, examples: Sequence[QAExample]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        from robust_xlt.qa import prepare_eval_features, prepare_train_features

        s = self.settings
        options = dict(max_length=s.max_length, stride=s.qa_overlap, max_query_length=s.max_query_length)
        train = prepare_train_features(examples, s.qa_tokenizer, **options)
        evaluation = prepare_eval_features(examples, s.qa_tokenizer, **options)
        if not np.array_equal(train["input_ids"], evaluation["input_ids"]):
            raise AssertionError("train and eval QA features cut different windows")
        return train, evaluation

    def gradient(self, examples: Sequence[QAExample]) -> GradientPass:
        if not examples:
            return self._join(np.zeros(0, dtype=np.int64), [])
        train, evaluation = self._features(examples)
        ids, owner = train["input_ids"], train["overflow_to_sample_mapping"].astype(np.int64)
        offsets = evaluation["offset_mapping"].astype(np.int64)
        slot = np.where(offsets[..., 0] >= 0, 1, -1)
        start, end = offsets[..., 0].clip(min=0), offsets[..., 1].clip(min=0)
        stripped = [ex.question.lstrip() for ex in examples]  # as the features do
        questions = self.tokenizer(stripped, add_special_tokens=False, return_offsets_mapping=True)
        for r in range(len(ids)):
            o = int(owner[r])
            pieces, spans = questions["input_ids"][o], questions["offset_mapping"][o]
            shift = len(examples[o].question) - len(stripped[o])
            k = 0
            while k < len(pieces) and 1 + k < ids.shape[1] and ids[r, 1 + k] == pieces[k]:
                slot[r, 1 + k], start[r, 1 + k], end[r, 1 + k] = 0, spans[k][0] + shift, spans[k][1] + shift
                k += 1
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids", "start_positions", "end_positions") if k in train]
        parts = []
        for at in range(0, len(ids), self.batch_size):
            rows = slice(at, at + self.batch_size)
            width = int(train["attention_mask"][rows].sum(axis=1).max())
            batch: dict[str, torch.Tensor] = {
                k: torch.from_numpy(np.ascontiguousarray(train[k][rows][:, :width] if train[k].ndim == 2 else train[k][rows])).long()
                for k in keys
            }
            embeds, grad = self._backward(batch)
            parts.append((slot[rows, :width], start[rows, :width], end[rows, :width], embeds, grad))
        return self._join(owner, parts)

    @torch.inference_mode()
    def query(self, examples: Sequence[QAExample], *, embed: bool, exact: bool = False) -> Queries:
        with self._precision(exact):
            return self._query(examples, embed)

    def _query(self, examples: Sequence[QAExample], embed: bool) -> Queries:
        if embed:
            raise ValueError("min_similarity is not offered for QA: a window is not a sentence")
        if not examples:
            return Queries(np.zeros(0), np.zeros(0, dtype=bool), [], None)
        # predict decodes answers by id, and the variants of one example share theirs.
        unique = [dataclasses.replace(ex, id=str(i)) for i, ex in enumerate(examples)]
        _, records = self.task.predict(self.model, self.tokenizer, unique, self.settings, self.device)
        f1 = np.array([r["f1"] for r in records], dtype=np.float64)
        return Queries(score=1.0 - f1, success=f1 == 0.0, prediction=[r["prediction"] for r in records], embedding=None)


_VICTIMS: dict[type, type[PairVictim] | type[QAVictim]] = {PairExample: PairVictim, QAExample: QAVictim}


def search_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype a search in ``precision`` ("auto", "fp32", "bf16") autocasts to on
    ``device``; None is fp32. "auto" takes bf16 only where it has native kernels: a
    CUDA device that supports it, or a CPU on which oneDNN runs bf16 (AVX512 or AMX);
    elsewhere bf16 is emulated and slower than fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return None


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (torch's own check, private, so
    a build without it counts as no)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def victim_for(
    task: Any, model: Any, tokenizer: Any, settings: InputSettings, batch_size: int | None = None, precision: str = "fp32"
) -> Victim:
    """The victim of ``task``'s example type; ``batch_size`` rows per forward pass
    (None: 16 on a CPU, 256 on an accelerator; see AttackConfig.query_batch_size);
    ``precision`` of the search's passes (AttackConfig.precision)."""
    device = next(model.parameters()).device
    if batch_size is None:
        batch_size = 16 if device.type == "cpu" else 256
    kind = _VICTIMS.get(task.example_type)
    if kind is None:
        raise NotImplementedError(f"no adversary victim for task {task.name} ({task.example_type.__name__})")
    return kind(task, model, tokenizer, settings, batch_size, search_dtype(precision, device))
