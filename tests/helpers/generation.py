"""Shared builders for the generation tests: tiny random CLIP models (open_clip and transformers) and a
weight-free generation method. No test lives here; the builders make no network request."""

from __future__ import annotations

import json
from pathlib import Path

TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_open_clip(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """(model-config JSON, checkpoint) of a randomly initialised tiny open_clip CLIP, deterministic in `seed`."""
    import open_clip
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "partbench-tiny-clip.json"
    weights = folder / "partbench-tiny-clip.bin"
    if not weights.is_file():
        config.write_text(json.dumps(TINY_OPEN_CLIP))
        open_clip.add_model_config(config)
        torch.manual_seed(seed)
        model = open_clip.create_model("partbench-tiny-clip", pretrained=None)
        torch.save(model.state_dict(), weights)
    return config, weights


def clip_args(folder: Path) -> dict[str, str]:
    config, weights = tiny_open_clip(folder)
    return {"clip_model": str(config), "clip_pretrained": str(weights)}


def tiny_hf_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny random transformers CLIPModel + CLIPProcessor saved to `folder`. The tokenizer's vocabulary and merges
    are written from open_clip's bundled BPE file (the same 49408-token OpenAI vocabulary), so nothing downloads."""
    import gzip

    import open_clip
    import torch
    from open_clip.tokenizer import SimpleTokenizer, default_bpe
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPTokenizer,
        CLIPVisionConfig,
    )

    if (folder / "config.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    simple = SimpleTokenizer()
    # open_clip names the special tokens <start_of_text>/<end_of_text>; OpenAI's (and HF's) vocabulary spells them so:
    renamed = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    (folder / "vocab.json").write_text(json.dumps({renamed.get(k, k): v for k, v in simple.encoder.items()}))
    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=CLIPTextConfig(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                   num_attention_heads=2, max_position_embeddings=77, projection_dim=16).to_dict(),
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=32, patch_size=8,
                                       projection_dim=16).to_dict(),
        projection_dim=16)
    CLIPModel(config).eval().save_pretrained(folder)
    del open_clip
    return folder


PLUGIN = '''
"""A weight-free generation method for tests: a flat colour per (prompt, seed), optionally slow."""
import hashlib, os, time
from PIL import Image


class Swatch:
    def __init__(self, suite, data_root, args, seed=0):
        self.delay = float(args.get("delay", 0))
        self.calls = 0

    @classmethod
    def fingerprint_for(cls, **_):
        return "swatch-v1"

    @classmethod
    def meaningful_for(cls, args):
        return False

    def fingerprint(self):
        return "swatch-v1"

    def generate(self, prompts, seeds):
        log = os.environ.get("SWATCH_LOG")
        out = []
        for p, s in zip(prompts, seeds):
            time.sleep(self.delay)
            rgb = tuple(hashlib.sha256(f"{p.id}/{s}".encode()).digest()[:3])
            out.append(Image.new("RGB", (40, 48), rgb))
            if log:
                with open(log, "a") as f:
                    f.write(f"{p.id} {s}\\n")
        return out


from partbench.registry import MethodInfo, register_method
register_method(MethodInfo(name="swatch", factory="swatch_plugin:Swatch", kinds=("generation",)))
'''


def install_swatch(folder: Path, monkeypatch=None) -> None:
    """Write the `swatch` plugin module into `folder` (and, with monkeypatch, make it importable and loaded)."""
    (folder / "swatch_plugin.py").write_text(PLUGIN)
    if monkeypatch is not None:
        import importlib
        import sys

        from partbench.registry import METHODS

        # The plugin registers itself on import; a copy of the registry takes it, and the test's end restores the
        # original, so later tests (the method contract's "every method has a case") never see `swatch`.
        METHODS.load()
        monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
        monkeypatch.syspath_prepend(str(folder))
        sys.modules.pop("swatch_plugin", None)
        importlib.import_module("swatch_plugin")


MARKUP_PROMPT = 'a photo of a cow, with its <b>head</b> & <img src=x onerror="window.__pwned=1"> painted red'


def markup_suite(folder: Path) -> Path:
    """A generation suite YAML (loaded by path) whose prompts include one containing markup."""
    (folder / "prompts").mkdir(parents=True, exist_ok=True)
    prompts = [{"prompt_id": "m0", "prompt": MARKUP_PROMPT}] + [
        {"prompt_id": f"m{i}", "prompt": f"a photo of a car, with its wheel number {i} painted blue",
         "part_phrase": "wheel", "class_name": "car"} for i in range(1, 6)]
    (folder / "prompts" / "markup.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    path = folder / "markup-t2i.yaml"
    path.write_text("name: markup-t2i\nversion: '1'\ntask: generation\nprompts: markup.jsonl\nimages_per_prompt: 1\n")
    return path


def study_runs(tmp_path: Path, monkeypatch, n_runs: int = 3) -> list[Path]:
    """`n_runs` finished swatch runs (seeds 0..n-1) on the markup suite; the first is the reference."""
    from partbench.run import RunRequest, run

    install_swatch(tmp_path, monkeypatch)
    suite = markup_suite(tmp_path / "suite")
    args = clip_args(tmp_path / "clip")
    return [run(RunRequest(method="swatch", suite=str(suite), data_root=tmp_path, output_root=tmp_path / "runs",
                           method_args=args, seed=s, bootstrap=0)).run_dir for s in range(n_runs)]
