"""ConceptAttention (Helbling et al., ICML 2025) on diffusers' FLUX.1 (or, with model=flux2, FLUX.2) transformer; see
`method.py` (the partbench method) and `flux1_stream.py` / `flux2_stream.py` (the concept stream beside a stock
model)."""

from .method import ConceptAttention, status

__all__ = ["ConceptAttention", "status"]
