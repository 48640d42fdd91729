"""ConceptAttention (Helbling et al., ICML 2025) on diffusers' FLUX.1 (or, with model=flux2, FLUX.2) transformer.

`method.py` is the partbench method; `flux1.py` / `flux2.py` are the per-model backends (`backend.ConceptBackend`),
each running its concept stream (`flux1_stream.py` / `flux2_stream.py`) beside a stock model; `options.py` holds the
`--method-arg` options and each model's defaults."""

from .method import ConceptAttention, status

__all__ = ["ConceptAttention", "status"]
