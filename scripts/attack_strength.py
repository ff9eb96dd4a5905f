"""How strong the embedding adversary of `--method adv` is, measured on a trained model.

For a saved sentence-pair model and a data file, compares the clean loss and accuracy
with those under the training adversary's own perturbation (PGD from zero, K steps
with the config's step and radius, relative to each example's embeddings), and reports
the perturbation's size as a share of the examples' word-embedding norm. Eval mode
(no dropout), so the numbers are the perturbation's effect alone.

    python scripts/attack_strength.py --model-dir runs/xnli-standard-seed0/best \\
        --task xnli --data /tmp/xlt-data/xnli/dev-en.tsv --lang en --examples 300
"""

from __future__ import annotations

import argparse
import json

import torch

from robust_xlt.tasks import InputSettings, get_task, to_device
from robust_xlt.tasks.batches import model_inputs
from robust_xlt.training import TrainConfig
from robust_xlt.training import methods


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--task", default="xnli")
    p.add_argument("--data", required=True)
    p.add_argument("--lang", default="en")
    p.add_argument("--examples", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--settings",
        default="l2,linf",
        help="comma-separated NORM or NORM:STEP:RADIUS (relative sizes); NORM alone takes that norm's defaults",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    model, tokenizer = task.load_model(args.model_dir)
    model.eval()
    examples = task.load_file(args.data, args.lang)[: args.examples]
    settings = InputSettings(max_length=args.max_length)
    specials = torch.tensor([i for i in tokenizer.all_special_ids if i != tokenizer.unk_token_id])
    device = torch.device("cpu")
    rows = []
    for setting in args.settings.split(","):
        norm, *sizes = setting.split(":")
        # NORM alone: adv_lr and adv_radius None, the norm's defaults (ADV_DEFAULTS).
        adv_lr, adv_radius = (float(sizes[0]), float(sizes[1])) if sizes else (None, None)
        config = TrainConfig(task=args.task, method=("adv",), adv_norm=norm, adv_lr=adv_lr, adv_radius=adv_radius).resolved()
        totals = {"clean_loss": 0.0, "adv_loss": 0.0, "clean_correct": 0, "adv_correct": 0, "share": 0.0, "old": 0.0, "n": 0}
        for start in range(0, len(examples), args.batch_size):
            batch = to_device(task.train_batch(tokenizer, examples[start : start + args.batch_size], settings), device)
            mask = methods.perturbation_mask(batch, specials)
            embed = model.get_input_embeddings()
            clean_embeds = embed(batch["input_ids"]).detach()
            scale = methods.embedding_scale(clean_embeds, mask, norm)
            delta = torch.zeros_like(clean_embeds)
            for _ in range(config.adv_steps):
                delta.requires_grad_(True)
                out = model(inputs_embeds=clean_embeds + delta, **model_inputs(batch))
                (grad,) = torch.autograd.grad(task.loss(out, batch), delta)
                delta = methods.ascend(delta.detach(), grad, mask, scale, config, "pgd")
            with torch.no_grad():
                clean = model(inputs_embeds=clean_embeds, **model_inputs(batch))
                adv = model(inputs_embeds=clean_embeds + delta, **model_inputs(batch))
                n = len(batch["labels"])
                totals["clean_loss"] += float(task.loss(clean, batch)) * n
                totals["adv_loss"] += float(task.loss(adv, batch)) * n
                totals["clean_correct"] += int((clean.logits.argmax(-1) == batch["labels"]).sum())
                totals["adv_correct"] += int((adv.logits.argmax(-1) == batch["labels"]).sum())
                share = (delta * mask).flatten(1).norm(dim=1) / (clean_embeds * mask).flatten(1).norm(dim=1)
                totals["share"] += float(share.sum())
                # The old default (absolute l2 steps of 0.1, K = 2, no radius) moved an
                # example by at most 0.2 in l2, whatever its embeddings' norm.
                totals["old"] += float((0.2 / (clean_embeds * mask).flatten(1).norm(dim=1)).sum())
                totals["n"] += n
        n = int(totals["n"])  # a count: every term added was an int
        rows.append(
            {
                "norm": norm,
                "adv_lr": config.adv_lr,
                "adv_radius": config.adv_radius,
                "steps": config.adv_steps,
                "examples": n,
                "clean_loss": round(totals["clean_loss"] / n, 4),
                "adversarial_loss": round(totals["adv_loss"] / n, 4),
                "clean_accuracy": round(100 * totals["clean_correct"] / n, 2),
                "adversarial_accuracy": round(100 * totals["adv_correct"] / n, 2),
                "perturbation_share_of_embedding_norm": round(totals["share"] / n, 4),
                "old_default_l2_share_at_most": round(totals["old"] / n, 4),
            }
        )
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
