"""MAGNET: the LoRA Seg4Diff fine-tunes SD3 with, loaded into the transformer with peft (never downloaded).

The released files (`chyun/seg4diff-coco-lora` and `chyun/seg4diff-sa1b-lora` on Hugging Face, file
`lora_weights.pth`) are `torch.save`d checkpoints: a dict whose `model` entry is the Seg4Diff model's state dict, its
transformer's keys prefixed `backbone.transformer.`. The LoRA is upstream's `peft.LoraConfig(r=16, lora_alpha=16,
init_lora_weights="gaussian")` on `attn.to_q`, `attn.to_k`, `attn.to_v` and `attn.to_out.0` of every block
(`sd3_backbone.py`). Here the LoRA tensors are picked out of that state dict (any other entries are ignored), their
peft adapter name dropped, and loaded into an adapter of the same config whose target modules and rank are read from
the tensors themselves; lora_alpha is upstream's 16 (the files do not store it). A file with no LoRA tensor, or whose
tensors do not all load, is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError

ADAPTER = "magnet"
LORA_ALPHA = 16
PREFIXES = ("backbone.transformer.", "base_model.model.", "transformer.")
_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


def magnet_lora_tensors(obj: Any) -> dict[str, Any]:
    """`module.lora_A.weight` / `module.lora_B.weight` -> tensor, from a MAGNET checkpoint (or a bare state dict)."""
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise PartbenchError("seg4diff lora: the file holds no state dict (expected a dict with a 'model' entry).")
    out = {}
    for key, value in state.items():
        for prefix in PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        match = _KEY.match(key)
        if match:
            out[f"{match['module']}.lora_{match['ab']}.weight"] = value
    return out


def load_magnet_lora(transformer: Any, path: str | Path) -> dict[str, Any]:
    """Add the MAGNET LoRA in `path` to `transformer` (before it is moved or cast); returns what was loaded."""
    import torch
    from peft import LoraConfig
    from peft.utils import set_peft_model_state_dict

    file = Path(path).expanduser()
    if not file.is_file():
        raise PartbenchError(f"seg4diff lora: {file} does not exist. Download lora_weights.pth from "
                             "chyun/seg4diff-coco-lora (or chyun/seg4diff-sa1b-lora) on a networked machine and pass "
                             "--method-arg lora=PATH.")
    tensors = magnet_lora_tensors(torch.load(file, map_location="cpu", weights_only=True))
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in tensors})
    if not modules:
        raise PartbenchError(f"seg4diff lora: {file} holds no LoRA tensors (keys like "
                             "backbone.transformer.transformer_blocks.0.attn.to_q.lora_A.weight).")
    known = dict(transformer.named_modules())
    absent = [m for m in modules if m not in known]
    if absent:
        raise PartbenchError(f"seg4diff lora: {file} adapts modules this transformer lacks ({', '.join(absent[:3])}"
                             f"{'...' if len(absent) > 3 else ''}); it was trained for another model.")
    ranks = {tensors[f"{m}.lora_A.weight"].shape[0] for m in modules if f"{m}.lora_A.weight" in tensors}
    if len(ranks) != 1 or any(f"{m}.lora_{ab}.weight" not in tensors for m in modules for ab in "AB"):
        raise PartbenchError(f"seg4diff lora: {file} does not hold one lora_A and one lora_B of a single rank for "
                             "every adapted module.")
    rank = ranks.pop()
    wrong = [m for m in modules if tuple(tensors[f"{m}.lora_A.weight"].shape[1:]) != (known[m].in_features,)
             or tensors[f"{m}.lora_B.weight"].shape[0] != known[m].out_features]
    if wrong:
        raise PartbenchError(f"seg4diff lora: {file}'s tensors for {wrong[0]} do not fit this transformer's layer "
                             "sizes; it was trained for another model.")
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=LORA_ALPHA, init_lora_weights="gaussian",
                                       target_modules=modules), adapter_name=ADAPTER)
    result = set_peft_model_state_dict(transformer, tensors, adapter_name=ADAPTER)
    unexpected = [k for k in getattr(result, "unexpected_keys", []) or [] if "lora_" in k]
    if unexpected:
        raise PartbenchError(f"seg4diff lora: {len(unexpected)} LoRA tensors of {file} did not load "
                             f"(e.g. {unexpected[0]}).")
    return {"path": str(file), "modules": len(modules), "rank": rank, "lora_alpha": LORA_ALPHA}
