"""ConceptAttention (Helbling et al., ICML 2025) on diffusers' FLUX.1 (or, with model=flux2, FLUX.2) transformer.

`method.py` is the partbench method; `flux1.py` / `flux2.py` are the per-model backends (`backend.ConceptBackend`),
each running its concept stream (`flux1_stream.py` / `flux2_stream.py`) beside a stock model; `options.py` holds the
`--method-arg` options and each model's defaults.

The method is imported on first use only, so the catalogue can read `options.PARAMS` without importing it."""

from typing import Any

__all__ = ["ConceptAttention", "status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import method

        return getattr(method, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
