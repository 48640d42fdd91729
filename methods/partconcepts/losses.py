"""Training objective: L = Dice(decoded masks) + lambda * flow-matching MSE (the paper's, Sec. 3).

`norm`: with several processes, a term averaged over concepts, pixels or pairs must be divided by the global count,
not each process's own (processes hold different numbers of them), for N processes to make the update one process
makes with the whole batch. `norm(local count)` returns that divisor (a collective: every process calls it, in the
same order, whatever its local data). None (one process) keeps the plain local average.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Norm = Callable[[torch.Tensor], torch.Tensor] | None


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, concept_mask: torch.Tensor,
              eps: float = 1.0, norm: Norm = None) -> torch.Tensor:
    """Soft Dice per (sample, PartConcept) over valid pixels, averaged over real concepts. logits/targets:
    (B, C, R, R); valid: (B, R, R); concept_mask: (B, C). An absent part (empty target) is pushed to an empty mask."""
    w = valid[:, None].to(logits.dtype)
    p = torch.sigmoid(logits) * w
    g = targets * w
    inter = (p * g).sum(dim=(-1, -2))
    denom = p.sum(dim=(-1, -2)) + g.sum(dim=(-1, -2))
    per_concept = 1 - (2 * inter + eps) / (denom + eps)
    m = concept_mask.to(per_concept.dtype)
    return (per_concept * m).sum() / (m.sum().clamp_min(1) if norm is None else norm(m.sum()))


def flow_loss(velocity: torch.Tensor, noise: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """Rectified-flow target: the transformer predicts noise - x0 (what the FLUX sampler integrates)."""
    from diffusers import Flux2KleinPipeline as P

    target = P._pack_latents(noise - latents)
    return torch.mean((velocity.float() - target.float()) ** 2)


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
               concept_mask: torch.Tensor, norm: Norm = None) -> torch.Tensor:
    """Pixel-wise BCE over valid pixels of real concepts. Not in the paper: an optional auxiliary term (tiny preset)
    that gives dense gradients early, when Dice on near-uniform masks barely moves."""
    from torch.nn import functional as F

    w = valid[:, None].to(logits.dtype) * concept_mask[:, :, None, None].to(logits.dtype)
    per_pixel = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (per_pixel * w).sum() / (w.sum().clamp_min(1) if norm is None else norm(w.sum()))


def part_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                       concept_mask: torch.Tensor, norm: Norm = None) -> torch.Tensor:
    """Per-pixel cross-entropy over a prompt's PartConcepts, on pixels that carry a part label. Not in the paper: an
    optional auxiliary term. Dice and BCE score each concept on its own, so a map that lights up both hands costs
    "left hand" only a little; inference takes the argmax over the object's parts, and this term trains exactly that
    decision: "left hand" and "right hand" compete for each hand pixel (the left/right signal)."""
    labelled = (targets.sum(dim=1) > 0) & valid  # (B, R, R): pixels of some part of the prompt
    divisor = None if norm is None else norm(labelled.sum())  # before any early return: a collective
    if not labelled.any():
        return logits.sum() * 0
    masked = logits.masked_fill(~concept_mask[:, :, None, None], float("-inf"))
    log_probs = masked.log_softmax(dim=1)
    picked = (log_probs.masked_fill(targets == 0, 0) * targets).sum(dim=1)  # log p(true part) per pixel
    return -(picked[labelled]).mean() if divisor is None else -(picked[labelled]).sum() / divisor


def mirrored_pairs(phrases: list[tuple[str, ...]]) -> list[tuple[int, int, int]]:
    """(sample, left-or-first index, its mirror's index) for every mirrored pair ('left hand', 'right hand') among
    each sample's PartConcept phrases, once per pair."""
    from partbench.suites import mirrored_phrase

    out = []
    for b, ph in enumerate(phrases):
        index = {p: i for i, p in enumerate(ph)}
        for i, p in enumerate(ph):
            j = index.get(mirrored_phrase(p) or "")
            if j is not None and i < j:
                out.append((b, i, j))
    return out


def pair_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor,
                       pairs: list[tuple[int, int, int]], norm: Norm = None) -> torch.Tensor:
    """Left-or-right cross-entropy per mirrored pair on the pair's own pixels, averaged over pairs (each pair weighs
    the same, however small its parts). Not in the paper: an optional auxiliary term (tiny preset). In the
    all-parts cross-entropy a pair's side decision weighs by its pixel count, so a car's wheels or a figure's hands,
    a few percent of the object, barely steer it; which side is which is what the left/right metric scores."""
    from torch.nn import functional as F

    if not pairs:
        if norm is not None:
            norm(torch.zeros((), device=logits.device))  # the collective every process makes
        return logits.sum() * 0
    b, i, j = (torch.tensor(v, device=logits.device) for v in zip(*pairs))
    margin = logits[b, i] - logits[b, j]  # (P, R, R): > 0 means "first of the pair"
    first, second = targets[b, i] > 0, targets[b, j] > 0
    region = (first ^ second) & valid[b]
    per_pixel = F.softplus(torch.where(first, -margin, margin))  # -log p(true side) of the two
    counts = region.sum(dim=(-1, -2))
    per_pair = (per_pixel * region).sum(dim=(-1, -2)) / counts.clamp_min(1)
    present = counts > 0
    divisor = None if norm is None else norm(present.sum())
    if not present.any():
        return logits.sum() * 0
    return per_pair[present].mean() if divisor is None else per_pair[present].sum() / divisor
