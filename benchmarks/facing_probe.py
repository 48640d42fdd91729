"""Can the tiny FLUX.2 transformer see which way an object faces? A probe of the tiny base model's input, in isolation.

    python benchmarks/facing_probe.py [--latent-channels 4 12 32] [--objects car figure cow] [--steps 300]
                                      [--seeds 0 1 2]

Why: the tiny PartConcepts preset localised wheels and legs but picked their side at chance where the side depends on
the view (docs/partconcepts.md). Choosing a part's own side needs the view, so this measures how quickly the tiny
mmDiT, trained on nothing else, learns the view of a demo object from its noisy VAE latents: every image token of
the first double-stream block's output must predict it (a linear head; the whole transformer trains). The only
thing varied is the random VAE's number of latent channels: a token covers 4x4 pixels (48 values), which the
VAE squeezes into 4 x latent_channels numbers by a *random* projection (the tiny VAE is never trained).

Labels come from the generator's record (`meta/<split>.json`): facing the camera (or image right, for side-view
animals) = 1. Training uses the demo train split's crops of the chosen object and their mirror images (a mirrored
animal faces the other way), exactly the crops PartConcepts trains on (`training_crop`, 64 px, 10 % margin); the
score is the share of val crops whose token-averaged logit has the right sign, averaged over `--seeds` (each seed
draws other random base weights, noise and batches: with ~30 val crops one seed is too noisy to compare settings).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

SIGMA = 0.3  # the tiny preset's inference noise level
SIDE_VIEW = ("cow", "horse")  # facing 'left'/'right': a mirror image faces the other way


def crops_with_facing(data_root: Path, split: str, objects: tuple[str, ...], mirror: bool):
    """[(image (3, 64, 64), label)] for samples of `objects` whose instances all face one way."""
    import torch
    from lr_breakdown import facing_of  # a sibling script: run this one as `python benchmarks/facing_probe.py`

    from partbench.methods.partconcepts.data import training_crop
    from partbench.suites import load_suite

    suite = load_suite("demo")
    reader = suite.make_reader(data_root)
    meta = json.loads((data_root / suite.dataset_dir / "meta" / f"{split}.json").read_text())
    out = []
    for ref in reader.index(split).refs:
        if ref.object_class not in objects:
            continue
        sample = reader.load(ref)
        facing = facing_of(meta, sample.id)
        if facing == "mixed":  # instances of the class facing different ways: no single label
            continue
        label = float(facing in ("camera", "right"))
        image = training_crop(sample, suite, 64, 0.1, "object").image
        out.append((image, label))
        if mirror:
            out.append((image.flip(-1), 1 - label if sample.object_class in SIDE_VIEW else label))
    return torch.stack([i for i, _ in out]), torch.tensor([y for _, y in out])


def probe(latent_channels: int, objects: tuple[str, ...], data_root: Path, steps: int, seed: int) -> dict:
    import torch
    from diffusers import Flux2KleinPipeline as P

    import partbench.tiny_models.flux2_tiny as tiny

    torch.manual_seed(seed)
    comps = tiny.tiny_flux2_components(seed, replace(tiny.TinyFlux2Config(), latent_channels=latent_channels))
    vae, transformer = comps.vae, comps.transformer
    train_images, train_y = crops_with_facing(data_root, "train", objects, mirror=True)
    val_images, val_y = crops_with_facing(data_root, "val", objects, mirror=False)
    with torch.no_grad():
        def latents(images):
            return P._patchify_latents(vae.encode(images).latent_dist.mode())

        z_train = latents(train_images)
        mean, std = z_train.mean((0, 2, 3), keepdim=True), z_train.std((0, 2, 3), keepdim=True)  # as `calibrate`
        z_train, z_val = (z_train - mean) / std, (latents(val_images) - mean) / std
    states = {}
    transformer.transformer_blocks[0].register_forward_hook(lambda _m, _i, out: states.__setitem__("image", out[1]))
    norm = torch.nn.LayerNorm(transformer.inner_dim, elementwise_affine=False)
    head = torch.nn.Linear(transformer.inner_dim, 1)
    optimizer = torch.optim.AdamW([*transformer.parameters(), *head.parameters()], lr=2e-3)
    text = torch.randn(1, 8, transformer.config.joint_attention_dim)  # a fixed stand-in prompt

    def token_logits(z):
        x = SIGMA * torch.randn_like(z) + (1 - SIGMA) * z
        e = text.expand(len(z), -1, -1)
        transformer(hidden_states=P._pack_latents(x), timestep=torch.full((len(z),), SIGMA), guidance=None,
                    encoder_hidden_states=e, txt_ids=P._prepare_text_ids(e), img_ids=P._prepare_latent_ids(x),
                    return_dict=False)
        return head(norm(states["image"]))[..., 0]  # (B, N): every token's guess

    for _ in range(steps):
        idx = torch.randint(len(z_train), (8,))
        logits = token_logits(z_train[idx])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, train_y[idx, None].expand_as(logits))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        def accuracy(z, y):
            return round(100 * float(((token_logits(z).mean(1) > 0).float() == y).float().mean()), 1)

        return {"objects": "+".join(objects), "latent_channels": latent_channels,
                "values_per_token": 4 * latent_channels, "n_train": len(z_train), "n_val": len(z_val),
                "train_acc": accuracy(z_train, train_y), "val_acc": accuracy(z_val, val_y)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latent-channels", type=int, nargs="+", default=[4, 12, 32])
    parser.add_argument("--objects", nargs="+", default=["car", "figure", "cow"],
                        help="one probe per object class (demo suite)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "partbench", "data", "generate", "demo", "--data-root", str(args.data_root)],
                   check=True, stdout=subprocess.DEVNULL)
    print("| object | latent channels | values per token (of 48 pixels) | train crops | val crops | train acc % "
          "| val acc % (mean) | val acc % per seed |")
    print("|---|---|---|---|---|---|---|---|")
    for obj in args.objects:
        for channels in args.latent_channels:
            runs = [probe(channels, (obj,), args.data_root, args.steps, seed) for seed in args.seeds]
            r = runs[0]

            def mean(key, runs=runs):
                return round(sum(x[key] for x in runs) / len(runs), 1)

            print(f"| {r['objects']} | {channels} | {r['values_per_token']} | {r['n_train']} | {r['n_val']} | "
                  f"{mean('train_acc')} | {mean('val_acc')} | {' / '.join(str(x['val_acc']) for x in runs)} |",
                  flush=True)


if __name__ == "__main__":
    main()
