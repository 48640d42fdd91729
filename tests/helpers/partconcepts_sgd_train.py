"""`partbench train partconcepts` with plain SGD in place of AdamW, for tests comparing updates across launches.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/helpers/partconcepts_sgd_train.py ARGS...

Why SGD: an SGD update is -lr x gradient, so equal updates mean equal (synchronised, globally normalised) gradients.
AdamW divides each gradient by its own running magnitude: a parameter whose true gradient is zero (a convolution
bias before a per-channel GroupNorm) gets a +-lr update from rounding noise whose sign no two launches share.
"""

from __future__ import annotations

import sys

import torch


def sgd(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def main(argv: list[str]) -> None:
    from partbench.cli.main import app

    torch.optim.AdamW = sgd  # train() builds its optimizer as torch.optim.AdamW(params, lr=..., weight_decay=...)
    app(["train", "partconcepts", *argv], standalone_mode=True)


if __name__ == "__main__":
    main(sys.argv[1:])
