"""Checkpoint io: `model.safetensors` (weights) + `config.json` (model config, training record, deviations).

A checkpoint directory is written to a temporary sibling and renamed into place, so a crash leaves either the old
checkpoint or the new one. `training_state.pt` (optimizer, step, RNG) sits beside it for resuming.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from partbench.errors import PartbenchError
from partbench.weights import WeightsNotFoundError

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
TRAINING_STATE = "training_state.pt"
SUBDIR = "checkpoint"
HOW_TO_GET = ("Train one with `partbench train partconcepts --suite demo --preset tiny --output DIR` and pass "
              "--checkpoint DIR.")


def checkpoint_dir(path: str | Path) -> Path:
    """The directory holding the weights: `path` itself, or `path/checkpoint` (a training output directory)."""
    path = Path(path).expanduser()
    for candidate in (path, path / SUBDIR):
        if (candidate / WEIGHTS).is_file() and (candidate / CONFIG).is_file():
            return candidate
    if not path.exists():
        raise WeightsNotFoundError(f"PartConcepts checkpoint {path} does not exist. {HOW_TO_GET}")
    raise WeightsNotFoundError(f"PartConcepts checkpoint {path} holds no {WEIGHTS} + {CONFIG} (nor does "
                               f"{path / SUBDIR}). {HOW_TO_GET}")


def read_config(path: str | Path) -> dict[str, Any]:
    d = checkpoint_dir(path)
    try:
        return json.loads((d / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PartbenchError(f"PartConcepts checkpoint {d / CONFIG}: unreadable ({e}).") from None


def save_checkpoint(out_dir: Path, model, record: dict[str, Any], training_state: dict[str, Any] | None = None) -> Path:
    """Write `out_dir/checkpoint/` atomically (tmp dir + rename). Returns the checkpoint directory."""
    import torch
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    final, tmp, old = out_dir / SUBDIR, out_dir / f".{SUBDIR}.tmp", out_dir / f".{SUBDIR}.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state = {k: v.detach().contiguous().cpu() for k, v in model.checkpoint_state().items()}
    save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "step": str(record.get("step", 0))})
    (tmp / CONFIG).write_text(json.dumps({"model": model.config.to_dict(), **record}, indent=2, sort_keys=True),
                              encoding="utf-8")
    if training_state is not None:
        torch.save(training_state, tmp / TRAINING_STATE)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def recover(out_dir: Path) -> None:
    """After a crash between the two renames of `save_checkpoint`, put the previous checkpoint back."""
    final, old = Path(out_dir) / SUBDIR, Path(out_dir) / f".{SUBDIR}.old"
    if not final.exists() and old.exists():
        os.replace(old, final)


def load_model(path: str | Path, device: str = "cpu"):
    """Rebuild the model from its config (base model per preset) and load the checkpoint's weights."""
    from safetensors.torch import load_file

    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig

    d = checkpoint_dir(path)
    saved = read_config(d)
    config = PartConceptsConfig.from_dict(saved["model"])
    model = PartConceptsModel(config)
    # The tiny base is rebuilt from code, not read from the file: a checkpoint trained on another tiny architecture
    # (an older partbench) would load into tensors of the same shapes and predict nonsense (RoPE has no weights).
    built = json.loads(json.dumps(model.components.description))
    if config.preset == "tiny" and "base" in saved and saved["base"].get("config") != built.get("config"):
        raise PartbenchError(f"PartConcepts checkpoint {d} was trained on another tiny base model "
                             f"({saved['base'].get('config')}) than this partbench builds ({built.get('config')}); "
                             f"train it again. {HOW_TO_GET}")
    state = load_file(str(d / WEIGHTS))
    result = model.load_state_dict(state, strict=False)
    expected = set(model.checkpoint_state())
    missing = sorted(set(result.missing_keys) & expected)
    if missing or result.unexpected_keys:
        raise PartbenchError(f"PartConcepts checkpoint {d / WEIGHTS} does not match its config: "
                             f"missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]}.")
    return model.to(device).eval()
