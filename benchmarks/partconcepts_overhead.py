"""PartConcepts attention-capture overhead on the tiny preset (CPU): one mmDiT forward with capture vs the stock
forward, and the whole segmentation call (PartConcept encoder + forward with capture + decoder).

    python benchmarks/partconcepts_overhead.py [--resolution 64] [--concepts 12] [--batch 1] [--repeat 20]

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


def worker(kind: str, resolution: int, concepts: int, batch: int, repeat: int) -> dict:
    import torch
    from diffusers import Flux2KleinPipeline as P

    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.prompts import part_prompt

    torch.manual_seed(0)
    model = PartConceptsModel(PartConceptsConfig.for_preset("tiny", resolution=resolution)).eval()
    images = torch.rand(batch, 3, resolution, resolution) * 2 - 1
    prompts = [part_prompt("figure", PARTS[:concepts])] * batch
    with torch.no_grad():
        latents = model.encode_images(images)
        noise = torch.randn_like(latents)
        sigma = torch.full((batch,), 0.5)
        enc = model.encoder.encode(prompts)
        x_t = 0.5 * noise + 0.5 * latents
        args = dict(hidden_states=P._pack_latents(x_t), timestep=sigma, guidance=None,
                    encoder_hidden_states=enc.embeds, txt_ids=P._prepare_text_ids(enc.embeds),
                    img_ids=P._prepare_latent_ids(x_t), return_dict=False)

        def stock():
            return model.transformer(**args)[0]

        def capture():
            with model.capture.recording(enc.concept_positions, enc.embeds.shape[1]):
                return model.transformer(**args)[0]

        def segment():
            return model.segment(latents, images, prompts, sigma, noise).mask_logits

        fn = {"stock": stock, "capture": capture, "segment": segment}[kind]
        identical = bool(torch.equal(stock(), capture())) if kind == "capture" else None
        base_rss = peak_rss_mib()
        for _ in range(3):
            fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return {"kind": kind, "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
            "peak_rss_mib": peak_rss_mib(), "rss_before_runs_mib": base_rss, "identical_output": identical,
            "threads": torch.get_num_threads(), "image_tokens": latents.shape[-1] * latents.shape[-2],
            "text_tokens": enc.embeds.shape[1], "layers": len(model.capture.layers)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--concepts", type=int, default=12)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--worker", default=None)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.resolution, a.concepts, a.batch, a.repeat)))
        return
    rows = {}
    for kind in ("stock", "capture", "segment"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--resolution", str(a.resolution),
                              "--concepts", str(a.concepts), "--batch", str(a.batch), "--repeat", str(a.repeat)],
                             check=True, capture_output=True, text=True).stdout
        rows[kind] = json.loads(out.strip().splitlines()[-1])
    r = rows["stock"]
    print(f"tiny preset, {a.resolution}px, batch {a.batch}, {a.concepts} PartConcepts, {r['image_tokens']} image + "
          f"{r['text_tokens']} text tokens, {rows['capture']['layers']} captured layers, {r['threads']} threads")
    print(f"{'forward':<28}{'median ms':>10}{'min ms':>9}{'peak RSS MiB':>14}")
    for kind, label in (("stock", "stock mmDiT forward"), ("capture", "mmDiT forward + capture"),
                        ("segment", "segment (enc+capture+dec)")):
        x = rows[kind]
        print(f"{label:<28}{x['median_ms']:>10.2f}{x['min_ms']:>9.2f}{x['peak_rss_mib']:>14.1f}")
    print(f"capture overhead ratio: median {rows['capture']['median_ms'] / r['median_ms']:.2f}x, "
          f"min {rows['capture']['min_ms'] / r['min_ms']:.2f}x (min is the robust one on a shared machine); "
          f"output identical to stock: {rows['capture']['identical_output']}")


if __name__ == "__main__":
    main()
