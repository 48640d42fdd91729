"""Which torch device a model-based method or metric runs on: one rule for every `device=` option."""

from __future__ import annotations

import os

from partbench.errors import PartbenchError


def select_device(name: str = "auto", arg: str = "device") -> str:
    """The torch device string for a `device` option value.

    `auto` gives `cuda:<LOCAL_RANK>` when torch sees a GPU (LOCAL_RANK defaults to 0), so each process of a
    torchrun launch gets its own GPU, and `cpu` otherwise. An explicit `cuda`/`cuda:N` without a GPU is refused here,
    with the option's name (`arg`, the `--method-arg` key), rather than failing later inside torch. Any other value
    (`cpu`, `mps`, ...) is passed to torch as given.
    """
    import torch  # lazily: the CLI must start without torch installed

    if name == "auto":
        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        return "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PartbenchError(f"--method-arg {arg}={name} asks for a GPU, but torch sees no CUDA device.")
    return name
