"""PartConcepts attention-capture overhead (CPU): one mmDiT forward with capture vs the stock forward, the capture
from the kernel's log-sum-exp (inference) beside the explicit softmax over all keys (training's path), and, on the
tiny preset, the whole segmentation call (PartConcept encoder + forward with capture + decoder).

    python benchmarks/partconcepts_overhead.py [--resolution 64] [--concepts 12] [--batch 1] [--repeat 20]
    python benchmarks/partconcepts_overhead.py --model real-4b --repeat 5   # 1 double + 1 single Klein-4B block

The configurations alternate, round after round, in one process (so the ratios are measured in the same run);
times are the median and minimum of `--repeat` rounds after 3 warm-up rounds. Both capture paths must leave the
output bit-identical to the stock forward and agree on the maps; the script checks and prints both.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

PARTS = ["head", "torso", "left upper arm", "right upper arm", "left lower arm", "right lower arm", "left hand",
         "right hand", "left leg", "right leg", "left foot", "right foot", "tail", "neck", "horn", "body"]


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _tiny_setup(resolution: int, concepts: int, batch: int):
    """The tiny preset's PartConceptsModel: (stock, capture, segment) callables and the token counts."""
    import torch
    from diffusers import Flux2KleinPipeline as P

    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.prompts import part_prompt

    torch.manual_seed(0)
    model = PartConceptsModel(PartConceptsConfig.for_preset("tiny", resolution=resolution)).eval()
    images = torch.rand(batch, 3, resolution, resolution) * 2 - 1
    prompts = [part_prompt("figure", PARTS[:concepts])] * batch
    latents = model.encode_images(images)
    noise = torch.randn_like(latents)
    sigma = torch.full((batch,), 0.5)
    enc = model.encoder.encode(prompts)
    x_t = 0.5 * noise + 0.5 * latents
    args = dict(hidden_states=P._pack_latents(x_t), timestep=sigma, guidance=None,
                encoder_hidden_states=enc.embeds, txt_ids=P._prepare_text_ids(enc.embeds),
                img_ids=P._prepare_latent_ids(x_t), return_dict=False)
    segment = lambda: model.segment(latents, images, prompts, sigma, noise).mask_logits  # noqa: E731
    return model.transformer, model.capture, args, enc.concept_positions, segment


def _real_block_setup(resolution: int, concepts: int, batch: int):
    """One double and one single block at Klein-4B's published width (random weights, float32), Klein's 512 text
    tokens and `resolution`² pixels (a 16-pixel token stride): the shapes where attention is real-size."""
    import torch
    from diffusers import Flux2KleinPipeline as P

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers.published_configs
    from helpers import published_configs as pc

    from partbench.methods.partconcepts.capture import AttentionCapture

    transformer = pc.klein_transformer("4B", double_blocks=1, single_blocks=1)
    cfg = transformer.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, cfg.in_channels, resolution // 16, resolution // 16, generator=g)
    text = torch.randn(batch, pc.KLEIN_MAX_SEQUENCE_LENGTH, cfg.joint_attention_dim, generator=g)
    args = dict(hidden_states=P._pack_latents(x), timestep=torch.full((batch,), 0.5), guidance=None,
                encoder_hidden_states=text, txt_ids=P._prepare_text_ids(text), img_ids=P._prepare_latent_ids(x),
                return_dict=False)
    positions = torch.arange(20, 20 + 3 * concepts, 3).expand(batch, -1)
    return transformer, AttentionCapture(transformer, "all"), args, positions, None


def measure(model: str, resolution: int, concepts: int, batch: int, repeat: int) -> dict:
    """Every configuration timed in turn, round after round, in this one process: a machine that slows down or
    speeds up mid-run shifts all of them alike, so their ratios hold."""
    import torch

    from partbench.methods.partconcepts import capture as capture_module

    kernel_path = capture_module._native_unmasked
    setup = _tiny_setup if model == "tiny" else _real_block_setup
    with torch.no_grad():
        transformer, capture_, args, positions, segment = setup(resolution, concepts, batch)
        text_len = args["encoder_hidden_states"].shape[1]

        def stock():
            return transformer(**args)[0]

        def capture(explicit: bool = False):
            # explicit: the float32 softmax over all keys beside the stock attention call (the path training takes)
            capture_module._native_unmasked = (lambda a, k: False) if explicit else kernel_path
            try:
                with capture_.recording(positions, text_len) as rec:
                    return transformer(**args)[0], rec.maps
            finally:
                capture_module._native_unmasked = kernel_path

        fns = {"stock": stock, "capture": capture, "capture-explicit": lambda: capture(explicit=True)}
        if segment is not None:
            fns["segment"] = segment
        reference = stock()
        (out_k, maps_k), (out_e, maps_e) = capture(), capture(explicit=True)
        checks = {"identical_output": bool(torch.equal(out_k, reference) and torch.equal(out_e, reference)),
                  "max_map_difference": max(float((a - b).abs().max()) for a, b in zip(maps_k, maps_e))}
        for _ in range(3):
            for fn in fns.values():
                fn()
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(repeat):
            for kind, fn in fns.items():
                t = time.perf_counter()
                fn()
                times[kind].append(time.perf_counter() - t)
    return {"times_ms": {k: [1000 * t for t in v] for k, v in times.items()}, "peak_rss_mib": peak_rss_mib(),
            "threads": torch.get_num_threads(), "image_tokens": args["hidden_states"].shape[1],
            "text_tokens": text_len, "layers": len(capture_.layers)} | checks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("tiny", "real-4b"), default="tiny")
    ap.add_argument("--resolution", type=int, default=None, help="pixels (default: 64 tiny, 512 real-4b)")
    ap.add_argument("--concepts", type=int, default=12)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    a.resolution = a.resolution or (64 if a.model == "tiny" else 512)
    r = measure(a.model, a.resolution, a.concepts, a.batch, a.repeat)
    print(f"{a.model}, {a.resolution}px, batch {a.batch}, {a.concepts} PartConcepts, {r['image_tokens']} image + "
          f"{r['text_tokens']} text tokens, {r['layers']} captured layers, {r['threads']} threads, "
          f"{a.repeat} interleaved rounds; peak RSS {r['peak_rss_mib']:.0f} MiB")
    print(f"{'forward':<38}{'median ms':>10}{'min ms':>9}")
    labels = {"stock": "stock mmDiT forward", "capture": "forward + capture (kernel lse)",
              "capture-explicit": "forward + capture (explicit softmax)", "segment": "segment (enc+capture+dec)"}
    stats = {k: (statistics.median(v), min(v)) for k, v in r["times_ms"].items()}
    for kind, (median, low) in stats.items():
        print(f"{labels[kind]:<38}{median:>10.2f}{low:>9.2f}")
    for kind in ("capture", "capture-explicit"):
        print(f"{kind} / stock: median {stats[kind][0] / stats['stock'][0]:.2f}x, "
              f"min {stats[kind][1] / stats['stock'][1]:.2f}x")
    print(f"outputs identical to stock: {r['identical_output']}; largest map difference between the two capture "
          f"paths: {r['max_map_difference']:.2e}")


if __name__ == "__main__":
    main()
