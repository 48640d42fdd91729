"""Training: Dice on decoded PartConcept masks + lambda * flow-matching loss, with accelerate (device, mixed
precision, gradient accumulation), periodic atomic checkpoints, and resume from the last one.

Data: a suite's train split, one crop per (image, object class with parts), prompts `a photo of a {object} with
[part], ... and [part]` over all of the object's parts (in a random order each step, so a concept is identified by
its phrase, not its position), plus mirrored copies with left/right swapped. By default only *seen* objects train
(the OV-PARTS zero-shot protocol); `train_objects=all` uses every object. The VAE is frozen, so crop latents are
computed once. Optional caption augmentation: a JSONL of `{"sample_id": ..., "caption": "... [part] ..."}` lines
whose marked phrases are parts of that sample's object; with probability `caption_prob` a caption replaces the
default prompt.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from partbench.errors import PartbenchError
from partbench.methods.partconcepts import checkpoint as ckpt
from partbench.methods.partconcepts.data import Crop, batch_crops, mirrored, training_crop
from partbench.methods.partconcepts.losses import (
    dice_loss,
    flow_loss,
    masked_bce,
    mirrored_pairs,
    pair_cross_entropy,
    part_cross_entropy,
)
from partbench.methods.partconcepts.presets import PartConceptsConfig
from partbench.methods.partconcepts.prompts import parse_marked_prompt, part_prompt
from partbench.suites import mirrored_phrase

# Per-preset training recipes. klein: the paper's (batch 16 = 8 x 2 accumulation, the LoRA learning rate, Dice +
# lambda * flow only). tiny: what trains a random base model on the demo suite within 10 minutes on 2 CPU cores
# (docs/partconcepts.md, "The tiny preset"): small batches and more steps, a higher learning rate, lower noise, and
# three auxiliary losses the paper does not use (pixel BCE, per-pixel cross-entropy over the prompt's parts, and a
# left-vs-right cross-entropy per mirrored pair).
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 2500, "batch_size": 4, "lr": 2e-3, "lr_schedule": "cosine", "bce_weight": 1.0,
             "ce_weight": 1.0, "pair_weight": 1.0, "noise_range": (0.1, 0.5)},
    "klein": {"steps": 2000, "batch_size": 8, "grad_accum": 2, "lr": 1e-4},
}


@dataclass
class TrainOptions:
    suite: str
    data_root: Path
    output: Path
    model: PartConceptsConfig
    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 5e-4
    warmup: int = 50
    lr_schedule: str = "constant"  # after the linear warm-up: "constant", or "cosine" decay to 0 at `steps`
    weight_decay: float = 0.0
    bce_weight: float = 0.0  # auxiliary pixel BCE (not in the paper; the tiny preset uses 1.0 to learn in minutes)
    ce_weight: float = 0.0  # auxiliary per-pixel cross-entropy over the prompt's parts (not in the paper)
    pair_weight: float = 0.0  # auxiliary left-vs-right cross-entropy per mirrored pair (not in the paper)
    noise_range: tuple[float, float] = (0.2, 0.8)  # sigma ~ U(range) per sample
    max_parts: int | None = None  # prompt at most this many of the object's parts per step (None: all of them)
    train_split: str = "train"
    train_objects: str = "seen"
    mirror: bool = True
    captions: Path | None = None
    caption_prob: float = 0.5
    save_every: int = 200
    mixed_precision: str = "no"
    device: str | None = None  # None: accelerate picks (GPU if present)
    seed: int = 0
    time_limit_s: float | None = None  # stop early (and save) after this many seconds of training
    limit_samples: int | None = None  # for quick checks

    def __post_init__(self):
        if self.lr_schedule not in ("constant", "cosine"):
            raise PartbenchError(f"PartConcepts: lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}.")

    @classmethod
    def for_preset(cls, suite: str, data_root: Path, output: Path, model: PartConceptsConfig,
                   **overrides: Any) -> TrainOptions:
        """The training recipe of `model.preset` (PRESET_TRAINING), with `overrides` (None: keep the default)."""
        defaults = PRESET_TRAINING.get(model.preset, {})
        return cls(suite=suite, data_root=data_root, output=output, model=model,
                   **(defaults | {k: v for k, v in overrides.items() if v is not None}))

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model")
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    seconds: float
    losses: list[dict[str, float]] = field(default_factory=list)


def load_crops(opts: TrainOptions) -> list[Crop]:
    from partbench.console import progress_bar
    from partbench.suites import load_suite

    suite = load_suite(opts.suite)
    reader = suite.make_reader(opts.data_root)
    reader.check(opts.train_split)
    refs = reader.index(opts.train_split).refs
    if opts.train_objects not in ("seen", "all"):
        raise PartbenchError(f"train_objects must be 'seen' or 'all', got {opts.train_objects!r}.")
    if opts.train_objects == "seen":
        refs = [r for r in refs if r.object_class not in suite.unseen_objects]
    refs = refs[: opts.limit_samples] if opts.limit_samples else refs
    crops = []
    cfg = opts.model
    with progress_bar(transient=True) as bar:
        task = bar.add_task(f"partconcepts: loading {suite.name}/{opts.train_split}", total=len(refs), note="")
        for ref in refs:
            s = reader.load(ref)
            if s.has_labels and suite.part_ids_of(s.object_class):
                crops.append(training_crop(s, suite, cfg.resolution, cfg.crop_margin, cfg.crop))
            bar.advance(task)
    if not crops:
        raise PartbenchError(f"PartConcepts: no labelled training samples in {suite.name}/{opts.train_split}.")
    return crops + ([mirrored(c) for c in crops] if opts.mirror else [])


def load_captions(path: Path | None) -> dict[str, list[str]]:
    if path is None:
        return {}
    out: dict[str, list[str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise PartbenchError(f"PartConcepts captions {path}: cannot read ({e}).") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            parse_marked_prompt(row["caption"])
            out.setdefault(row["sample_id"], []).append(row["caption"])
        except (ValueError, KeyError, TypeError, PartbenchError) as e:
            raise PartbenchError(f"PartConcepts captions {path}, line {n}: expected "
                                 f'{{"sample_id": ..., "caption": "... [part] ..."}} ({e}).') from None
    return out


def _part_subset(parts: tuple[str, ...], rng: random.Random, max_parts: int | None) -> list[int]:
    """Indices of up to `max_parts` of `parts` in a random order; a part and its mirror ('left hand', 'right hand')
    are kept or dropped together, so the pair still competes for its pixels."""
    order = list(range(len(parts)))
    rng.shuffle(order)
    if not max_parts or len(parts) <= max_parts:
        return order
    index = {p: i for i, p in enumerate(parts)}
    chosen: list[int] = []
    for i in order:
        if i in chosen:
            continue
        mirror = index.get(mirrored_phrase(parts[i]) or "")
        group = [i] if mirror in (None, i) else [i, mirror]
        if len(chosen) + len(group) <= max_parts:
            chosen += group
    rng.shuffle(chosen)
    return chosen


def _prompt_and_targets(crop: Crop, rng: random.Random, captions: dict[str, list[str]], caption_prob: float,
                        max_parts: int | None = None):
    """A prompt for `crop` and the matching (C, R, R) targets, parts in a random order (or a caption's phrases)."""
    index = {p: i for i, p in enumerate(crop.parts)}
    options = [c for c in captions.get(crop.sample_id, []) if not crop.flipped]
    if options and rng.random() < caption_prob:
        caption = rng.choice(options)
        phrases = parse_marked_prompt(caption).phrases
        if all(p in index for p in phrases):
            return caption, crop.targets[[index[p] for p in phrases]]
    order = _part_subset(crop.parts, rng, max_parts)
    return part_prompt(crop.object_class, [crop.parts[i] for i in order]), crop.targets[order]


def train(opts: TrainOptions, model=None) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from partbench.console import progress_bar
    from partbench.methods.partconcepts.model import PartConceptsModel

    # The cores this process may use (taskset, cgroup CPU sets), not all the machine has; Linux only, else all.
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    torch.set_num_threads(max(1, len(usable)))
    accelerator = Accelerator(mixed_precision=opts.mixed_precision, gradient_accumulation_steps=opts.grad_accum,
                              cpu=opts.device == "cpu")
    set_seed(opts.seed)
    out = Path(opts.output)
    ckpt.recover(out)
    resume = out / ckpt.SUBDIR / ckpt.TRAINING_STATE
    if resume.is_file():
        saved = ckpt.read_config(out)
        if saved.get("model") != opts.model.to_dict() or saved.get("training", {}).get("suite") != opts.suite:
            raise PartbenchError(f"PartConcepts: {out} holds a checkpoint trained with other settings; "
                                 f"use another --output or delete it.")
        if saved.get("final") and saved.get("step", 0) >= opts.steps:
            # Already trained: rewriting the checkpoint would change its fingerprint and void cached predictions.
            return TrainResult(out / ckpt.SUBDIR, saved["step"], saved.get("seconds", 0.0), [])
    crops = load_crops(opts)  # before building the model: bad data fails fast
    captions = load_captions(opts.captions)
    model = model or PartConceptsModel(opts.model)
    model.to(accelerator.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, opts))
    step, history, elapsed_before = 0, [], 0.0
    if resume.is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / ckpt.SUBDIR / ckpt.WEIGHTS)), strict=False)
        state = torch.load(resume, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history, elapsed_before = state["step"], state["history"], state["seconds"]
        torch.random.set_rng_state(state["torch_rng"])
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)

    if opts.model.latent_stats == "calibrate" and not resume.is_file():  # a resumed model has them in its buffers
        core.calibrate_latent_statistics(torch.stack([c.image for c in crops]).to(accelerator.device))
    with torch.no_grad():  # the VAE is frozen: encode every crop once
        latents = torch.cat([core.encode_images(torch.stack([c.image for c in crops[i:i + 32]]).to(accelerator.device))
                             for i in range(0, len(crops), 32)])
    rng = random.Random(opts.seed * 1_000_003 + step)  # resumed runs continue a deterministic stream
    lo, hi = opts.noise_range
    record = {"training": opts.record() | {"n_crops": len(crops)}, "deviations": deviations(opts),
              "base": core.components.description}

    def save(final: bool = False):
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            seconds = elapsed_before + time.monotonic() - t0
            ckpt.save_checkpoint(out, core, record | {"step": step, "seconds": round(seconds, 1), "final": final,
                                                     "last_loss": history[-1] if history else None},
                                 {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                  "step": step, "history": history, "seconds": seconds,
                                  "torch_rng": torch.random.get_rng_state()})

    t0 = time.monotonic()
    model.train()
    with progress_bar() as bar:
        task = bar.add_task("partconcepts: training", total=opts.steps, completed=step, note="")
        while step < opts.steps:
            if opts.time_limit_s and elapsed_before + time.monotonic() - t0 > opts.time_limit_s:
                break
            for _ in range(opts.grad_accum):
                with accelerator.accumulate(model):
                    idx = [rng.randrange(len(crops)) for _ in range(opts.batch_size)]
                    batch = [crops[i] for i in idx]
                    prompts, targets = zip(*(_prompt_and_targets(c, rng, captions, opts.caption_prob,
                                                                         opts.max_parts) for c in batch))
                    batch = [Crop(c.sample_id, c.object_class, c.image, c.box, c.parts, t, c.valid, c.flipped)
                             for c, t in zip(batch, targets)]
                    tgt, valid, images = (t.to(accelerator.device) for t in batch_crops(batch))
                    x0 = latents[idx]
                    sigma = torch.empty(len(idx)).uniform_(lo, hi).to(accelerator.device)
                    noise = torch.randn_like(x0)
                    with accelerator.autocast():
                        res = core.segment(x0, images, list(prompts), sigma, noise)
                        l_dice = dice_loss(res.mask_logits.float(), tgt, valid, res.concept_mask)
                        l_flow = flow_loss(res.velocity, noise, x0)
                        loss = l_dice + opts.model.flow_weight * l_flow
                        if opts.bce_weight:
                            loss = loss + opts.bce_weight * masked_bce(res.mask_logits.float(), tgt, valid,
                                                                       res.concept_mask)
                        if opts.ce_weight:
                            loss = loss + opts.ce_weight * part_cross_entropy(res.mask_logits.float(), tgt, valid,
                                                                              res.concept_mask)
                        if opts.pair_weight:
                            loss = loss + opts.pair_weight * pair_cross_entropy(
                                res.mask_logits.float(), tgt, valid, mirrored_pairs(res.phrases))
                    accelerator.backward(loss)
                    if accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(params, 1.0)
                    optimizer.step()
                    optimizer.zero_grad()
            schedule.step()
            step += 1
            history.append({"step": step, "loss": round(loss.item(), 5), "dice": round(l_dice.item(), 5),
                            "flow": round(l_flow.item(), 5)})
            bar.update(task, completed=step, note=f"dice {l_dice.item():.3f} flow {l_flow.item():.3f}")
            if opts.save_every and step % opts.save_every == 0 and step < opts.steps:
                save()
    save(final=True)
    return TrainResult(out / ckpt.SUBDIR, step, elapsed_before + time.monotonic() - t0, history)


def lr_factor(step: int, opts: TrainOptions) -> float:
    """Learning-rate multiplier at `step`: linear warm-up over `warmup` steps, then constant or cosine to 0."""
    warm = max(opts.warmup, 1)
    if step < warm:
        return (step + 1) / warm
    if opts.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(opts.steps - warm, 1))))
    return 1.0


def deviations(opts: TrainOptions) -> list[str]:
    """Where this model and training recipe depart from the paper's (recorded in the checkpoint and the run config)."""
    config = opts.model
    out = []
    if config.preset == "tiny":
        out.append("tiny preset: randomly initialised FLUX.2-Klein-shaped model (no pretrained prior)")
    if config.trainable == "full":
        out.append("trainable=full: text encoder and mmDiT are trained in full, not only LoRAs (a random base has "
                   "no prior for LoRAs to adapt)")
    if config.concept_lora_rank != 128:
        out.append(f"PartConcept LoRA rank {config.concept_lora_rank} (paper: 128)")
    if config.latent_stats == "calibrate":
        out.append("latent normalisation measured on the training crops (a random VAE has no statistics)")
    if config.crop == "object":
        out.append("inputs cropped to the oracle object's box (paper: whole image)")
    if opts.bce_weight:
        out.append(f"auxiliary pixel BCE, weight {opts.bce_weight} (paper: Dice + lambda * flow only)")
    if opts.ce_weight:
        out.append(f"auxiliary per-pixel cross-entropy over the prompt's parts, weight {opts.ce_weight} "
                   f"(paper: Dice + lambda * flow only)")
    if opts.pair_weight:
        out.append(f"auxiliary left-vs-right cross-entropy per mirrored pair, weight {opts.pair_weight} "
                   f"(paper: Dice + lambda * flow only)")
    return out
