"""PartConcepts attention-capture overhead (CPU): one mmDiT forward with capture vs the stock forward, the capture
from the kernel's log-sum-exp (inference) beside the explicit softmax over all keys (training's path), and, on the
tiny preset, the whole segmentation call (PartConcept encoder + forward with capture + decoder).

    python benchmarks/partconcepts_overhead.py [--resolution 64] [--concepts 12] [--batch 1] [--repeat 20]
    python benchmarks/partconcepts_overhead.py --model real-4b --repeat 5   # 1 double + 1 single Klein-4B block

Each configuration runs in its own process (peak RSS from VmHWM, so one configuration's allocations do not hide
another's); times are the median of `--repeat` runs after 3 warm-up runs. The capture must leave the output
bit-identical to the stock forward; the script checks it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
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


def worker(kind: str, model: str, resolution: int, concepts: int, batch: int, repeat: int) -> dict:
    import torch

    from partbench.methods.partconcepts import capture as capture_module

    if kind == "capture-explicit":  # the explicit float32 softmax over all keys: the path training takes
        capture_module._native_unmasked = lambda args, kwargs: False
    setup = _tiny_setup if model == "tiny" else _real_block_setup
    with torch.no_grad():
        transformer, capture_, args, positions, segment = setup(resolution, concepts, batch)
        text_len = args["encoder_hidden_states"].shape[1]

        def stock():
            return transformer(**args)[0]

        def capture():
            with capture_.recording(positions, text_len):
                return transformer(**args)[0]

        fn = {"stock": stock, "capture": capture, "capture-explicit": capture, "segment": segment}[kind]
        identical = bool(torch.equal(stock(), capture())) if kind.startswith("capture") else None
        base_rss = peak_rss_mib()
        for _ in range(min(3, repeat)):
            fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return {"kind": kind, "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
            "peak_rss_mib": peak_rss_mib(), "rss_before_runs_mib": base_rss, "identical_output": identical,
            "threads": torch.get_num_threads(), "image_tokens": args["hidden_states"].shape[1],
            "text_tokens": text_len, "layers": len(capture_.layers)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("tiny", "real-4b"), default="tiny")
    ap.add_argument("--resolution", type=int, default=None, help="pixels (default: 64 tiny, 512 real-4b)")
    ap.add_argument("--concepts", type=int, default=12)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--worker", default=None)
    a = ap.parse_args()
    a.resolution = a.resolution or (64 if a.model == "tiny" else 512)
    if a.worker:
        print(json.dumps(worker(a.worker, a.model, a.resolution, a.concepts, a.batch, a.repeat)))
        return
    rows = {}
    kinds = ("stock", "capture", "capture-explicit") + (("segment",) if a.model == "tiny" else ())
    for kind in kinds:
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--model", a.model,
                              "--resolution", str(a.resolution),
                              "--concepts", str(a.concepts), "--batch", str(a.batch), "--repeat", str(a.repeat)],
                             check=True, capture_output=True, text=True).stdout
        rows[kind] = json.loads(out.strip().splitlines()[-1])
    r = rows["stock"]
    print(f"{a.model}, {a.resolution}px, batch {a.batch}, {a.concepts} PartConcepts, {r['image_tokens']} image + "
          f"{r['text_tokens']} text tokens, {rows['capture']['layers']} captured layers, {r['threads']} threads")
    print(f"{'forward':<28}{'median ms':>10}{'min ms':>9}{'peak RSS MiB':>14}")
    for kind, label in (("stock", "stock mmDiT forward"), ("capture", "forward + capture (kernel lse)"),
                        ("capture-explicit", "forward + capture (explicit)"),
                        ("segment", "segment (enc+capture+dec)")):
        if kind not in rows:
            continue
        x = rows[kind]
        print(f"{label:<28}{x['median_ms']:>10.2f}{x['min_ms']:>9.2f}{x['peak_rss_mib']:>14.1f}")
    for kind in ("capture", "capture-explicit"):
        x = rows[kind]
        print(f"{kind} overhead ratio: median {x['median_ms'] / r['median_ms']:.2f}x, "
              f"min {x['min_ms'] / r['min_ms']:.2f}x (min is the robust one on a shared machine); "
              f"output identical to stock: {x['identical_output']}")


if __name__ == "__main__":
    main()
