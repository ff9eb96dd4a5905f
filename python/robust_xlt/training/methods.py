"""One training step's forward and backward pass for each embedding-space method.

Each step function computes the method's loss for a (micro-)batch with the task's loss,
scales it by the batch's weight and calls ``backward``, so the parameter gradients add
up, ready for clipping and the optimizer; it returns the weighted loss value to log.
Text methods (rs-da, codeswitch) have already rewritten the batch.

- standard: the task loss.
- rs-rp (randomized smoothing, random perturbation): the loss at word embeddings plus
  noise, Gaussian N(0, s^2) or uniform U(-sqrt(3)s, sqrt(3)s) (the same variance),
  s = noise_scale x the word-embedding matrix's standard deviation; a fresh draw per
  step. Training sees only noisy inputs, as randomized smoothing does.
- adv, pgd: K ascent steps on a perturbation d of the word embeddings, each
  d <- P(d + adv_lr * S * u), u = g / ||g||_2 per example (l2) or sign(g) (linf), P the
  projection onto the ball of radius adv_radius * S (0: none); then the objective is
  the mean of the clean and the adversarial loss (Miyato et al. add them with weight 1;
  the mean differs by a factor Adam ignores, and keeps the gradient norm, hence
  clipping, comparable with standard). From d = 0 (adv_init_mag 0) the first ascent
  reuses the clean pass: K + 1 forward/backward passes in all (K = 1 is FGM); from a
  random start (below) the clean pass is separate: K + 2.
- adv, freelb: K steps each adding loss(d_t) / K to the parameter gradients, then
  d_{t+1} = P(d_t + adv_lr * S * g / ||g||) with ||.||_2 (l2) or ||.||_inf (linf) per
  example; d_0 is FreeLB's random start: U(-1, 1) scaled by adv_init_mag * S /
  sqrt(tokens x dim) per example (l2), or U(-1, 1) x adv_init_mag * S (linf). K passes.

S, the scale that makes sizes relative, is measured per example on its clean word
embeddings E (real, non-special tokens): ||E||_2 over all its tokens and dimensions
under l2, so a radius of 0.2 allows a fifth of the example's embedding norm (on
average a fifth of each token's norm, however long the input); the RMS coordinate
||E||_2 / sqrt(tokens x dim) under linf, so a radius of 0.1 lets every coordinate move
by a tenth of a typical coordinate. Absolute sizes made the attack's strength depend
on the model's embedding scale and on the input's length.

Dropout is active in every pass (the model is in train mode), so each ascent pass and
the final pass draw fresh dropout masks, as FreeLB's and most PGD implementations do:
the adversary ascends a slightly different network at each step.

A curriculum passes each step a ``strength`` in (0, 1] (training/curriculum.py): it
multiplies S, hence the adversaries' step, radius and random start, and rs-rp's noise
scale; 1 is the method itself. Every pass also counts the rows the model got wrong in
its last forward pass, the perturbed one (``ErrorMeter``): an adaptive curriculum's
signal when no word adversary runs.

Noise and perturbations touch only real tokens: padding and special tokens (CLS, SEP)
stay exact, since a translation changes the words of an input, not its markers. They
are added to the word embeddings, before position and type embeddings and LayerNorm
(``inputs_embeds``). Random draws come from a generator of (seed, step), on the CPU,
shared in order by the micro-batches of a step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from robust_xlt.tasks import Batch
from robust_xlt.tasks.batches import model_inputs
from robust_xlt.training.config import TrainConfig

if TYPE_CHECKING:
    from robust_xlt.training.parallel import Precision

# (model, batch, generator, weight, strength) -> weighted loss value. ``weight`` scales
# the loss before ``backward``: a micro-batch's share of the optimizer step's batch;
# ``strength`` is the curriculum's difficulty (module docstring).
StepFn = Callable[[Any, Batch, torch.Generator, float, float], float]
LossFn = Callable[[Any, Batch], torch.Tensor]


class ErrorMeter:
    """Rows the model got wrong in the last forward pass of each micro-batch (the
    perturbed pass: a method's passes end with it), summed over a step."""

    def __init__(self) -> None:
        self.wrong = self.rows = 0
        self._last = (0, 0)

    def record(self, counts: tuple[int, int]) -> None:
        self._last = counts

    def commit(self) -> None:
        self.wrong += self._last[0]
        self.rows += self._last[1]
        self._last = (0, 0)

    def take_counts(self) -> tuple[int, int]:
        """The step's (wrong, rows), and a fresh count for the next."""
        counts = (self.wrong, self.rows)
        self.wrong = self.rows = 0
        return counts

    def take(self) -> float | None:
        """The step's error rate (None: no rows), and a fresh count for the next."""
        rate = self.wrong / self.rows if self.rows else None
        self.wrong = self.rows = 0
        return rate


def make_step(
    config: TrainConfig, special_ids: list[int], embedding_std: float, meter: ErrorMeter | None = None, precision: Precision | None = None
) -> StepFn:
    """The step function of the config's embedding method (standard when it has none),
    computing the config's task loss; ``meter`` counts each pass's errors; every
    forward pass runs under ``precision``'s autocast, and every loss carries its
    gradient scale (fp16), so the methods' backward passes need not know."""
    method = config.embedding_method
    specials = torch.tensor(sorted(set(special_ids)), dtype=torch.long)
    task = config.task_record
    autocast = precision.autocast if precision is not None else contextlib.nullcontext
    scaled = precision.scaled if precision is not None else (lambda loss: loss)

    def loss_at(model: Any, batch: Batch, embeds: torch.Tensor | None = None) -> torch.Tensor:
        with autocast():
            if embeds is None:
                outputs = model(input_ids=batch["input_ids"], **model_inputs(batch))
            else:
                outputs = model(inputs_embeds=embeds, **model_inputs(batch))
            loss = task.loss(outputs, batch)
        if meter is not None:
            meter.record(task.errors(outputs, batch))
        return scaled(loss.float())

    if method is None:

        def standard(model: Any, batch: Batch, gen: torch.Generator, weight: float, strength: float) -> float:
            return standard_step(model, batch, loss_at, weight)

        return standard
    if method == "rs-rp":
        scale = config.noise_scale * embedding_std

        def rs_rp(model: Any, batch: Batch, gen: torch.Generator, weight: float, strength: float) -> float:
            mask = perturbation_mask(batch, specials)
            return noise_step(model, batch, loss_at, mask, config.noise, scale * strength, gen, weight)

        return rs_rp
    if config.adv_variant == "pgd":

        def pgd(model: Any, batch: Batch, gen: torch.Generator, weight: float, strength: float) -> float:
            return pgd_step(model, batch, loss_at, perturbation_mask(batch, specials), config, gen, weight, strength)

        return pgd

    def freelb(model: Any, batch: Batch, gen: torch.Generator, weight: float, strength: float) -> float:
        return freelb_step(model, batch, loss_at, perturbation_mask(batch, specials), config, gen, weight, strength)

    return freelb


# (model, batch, word embeddings or None for the ids) -> the task's mean loss.
LossAt = Callable[..., torch.Tensor]


def perturbation_mask(batch: Batch, specials: torch.Tensor) -> torch.Tensor:
    """[batch, length, 1] float: 1 on real non-special tokens, 0 on padding and specials."""
    ids = batch["input_ids"]
    real = batch["attention_mask"].bool() & ~torch.isin(ids, specials.to(ids.device))
    return real.unsqueeze(-1).float()


def standard_step(model: Any, batch: Batch, loss_at: LossAt, weight: float) -> float:
    loss = loss_at(model, batch) * weight
    loss.backward()
    return float(loss.item())


def noise_step(
    model: Any, batch: Batch, loss_at: LossAt, mask: torch.Tensor, kind: str, scale: float, gen: torch.Generator, weight: float
) -> float:
    embeds = model.get_input_embeddings()(batch["input_ids"])
    shape = tuple(embeds.shape)
    if kind == "gaussian":
        noise = torch.randn(shape, generator=gen) * scale
    else:
        noise = (torch.rand(shape, generator=gen) * 2 - 1) * (3**0.5 * scale)
    noise = noise.to(device=embeds.device, dtype=embeds.dtype) * mask
    loss = loss_at(model, batch, embeds + noise) * weight
    loss.backward()
    return float(loss.item())


def embedding_scale(embeds: torch.Tensor, mask: torch.Tensor, norm: str) -> torch.Tensor:
    """[batch, 1, 1]: S of the module docstring, per example, from clean embeddings."""
    masked = (embeds.detach() * mask).float()
    total = masked.reshape(masked.shape[0], -1).norm(dim=1)
    if norm == "l2":
        scale = total
    else:
        entries = (mask.sum(dim=(1, 2)) * embeds.shape[-1]).clamp(min=1)
        scale = total / entries.sqrt()
    return scale.clamp(min=1e-12).to(embeds.dtype).view(-1, 1, 1)


def pgd_step(
    model: Any,
    batch: Batch,
    loss_at: LossAt,
    mask: torch.Tensor,
    c: TrainConfig,
    gen: torch.Generator,
    weight: float,
    strength: float = 1.0,
) -> float:
    embed = model.get_input_embeddings()
    ids = batch["input_ids"]
    embeds = embed(ids)
    scale = embedding_scale(embeds, mask, c.adv_norm) * strength
    if c.adv_init_mag > 0:
        clean = loss_at(model, batch, embeds)
        (clean * weight / 2).backward()
        delta = random_start(embeds.detach(), mask, scale, c, gen)
        ascents = c.adv_steps
    else:
        start = torch.zeros_like(embeds.detach(), requires_grad=True)
        clean = loss_at(model, batch, embeds + start)
        (clean * weight / 2).backward()
        assert start.grad is not None
        delta = ascend(start.detach(), start.grad, mask, scale, c, "pgd")
        ascents = c.adv_steps - 1
    for _ in range(ascents):
        delta.requires_grad_(True)
        loss = loss_at(model, batch, embed(ids).detach() + delta)
        (grad,) = torch.autograd.grad(loss, delta)
        delta = ascend(delta.detach(), grad, mask, scale, c, "pgd")
    adversarial = loss_at(model, batch, embed(ids) + delta)
    (adversarial * weight / 2).backward()
    return float((clean.item() + adversarial.item()) * weight / 2)


def freelb_step(
    model: Any,
    batch: Batch,
    loss_at: LossAt,
    mask: torch.Tensor,
    c: TrainConfig,
    gen: torch.Generator,
    weight: float,
    strength: float = 1.0,
) -> float:
    embed = model.get_input_embeddings()
    ids = batch["input_ids"]
    clean = embed(ids).detach()
    scale = embedding_scale(clean, mask, c.adv_norm) * strength
    delta = random_start(clean, mask, scale, c, gen)
    total = 0.0
    for t in range(c.adv_steps):
        delta.requires_grad_(True)
        loss = loss_at(model, batch, embed(ids) + delta) * (weight / c.adv_steps)
        loss.backward()
        total += float(loss.item())
        if t + 1 < c.adv_steps:
            assert delta.grad is not None
            delta = ascend(delta.detach(), delta.grad, mask, scale, c, "freelb")
    return total


def random_start(embeds: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor, c: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """FreeLB's start, relative to ``scale``: zero when adv_init_mag is 0."""
    if c.adv_init_mag == 0:
        return torch.zeros_like(embeds)
    u = (torch.rand(tuple(embeds.shape), generator=gen) * 2 - 1).to(device=embeds.device, dtype=embeds.dtype) * mask
    if c.adv_norm == "l2":
        dims = mask.sum(dim=(1, 2)).clamp(min=1) * embeds.shape[-1]
        return u * (c.adv_init_mag / dims.sqrt()).view(-1, 1, 1) * scale
    return u * c.adv_init_mag * scale


def ascend(
    delta: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor, c: TrainConfig, variant: str
) -> torch.Tensor:
    """One projected ascent step on ``delta`` along ``grad`` (masked), sizes relative to ``scale``."""
    assert c.adv_lr is not None and c.adv_radius is not None, "resolve the config first"
    grad = grad * mask
    flat = grad.reshape(grad.shape[0], -1)
    if c.adv_norm == "l2":
        direction = grad / flat.norm(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    elif variant == "pgd":
        direction = grad.sign()
    else:
        direction = grad / flat.abs().amax(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    delta = (delta + c.adv_lr * scale * direction) * mask
    if c.adv_radius > 0:
        radius = c.adv_radius * scale
        if c.adv_norm == "l2":
            norms = delta.reshape(delta.shape[0], -1).norm(dim=1).view(-1, 1, 1)
            delta = delta * torch.where(norms > radius, radius / norms.clamp(min=1e-12), torch.ones_like(norms))
        else:
            delta = torch.maximum(torch.minimum(delta, radius), -radius)
    return delta
