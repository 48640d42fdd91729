"""A few columns of a softmax attention map, from the row normaliser a fused attention kernel already computes.

Attention-map methods (PartConcepts, Seg4Diff) need, for every image query row i, the probabilities of a handful of
key columns c (part-phrase or caption tokens) out of all S keys: p_ic = exp(q_i·k_c·s − lse_i), with
lse_i = log Σ_j exp(q_i·k_j·s). Materialising the whole (queries × keys) logit matrix for that, as the straightforward
softmax does, costs as much as the attention itself again, in float32, per captured layer. The fused kernels behind
`F.scaled_dot_product_attention` (flash attention on CPU and CUDA, memory-efficient and cuDNN attention on CUDA)
compute lse_i anyway to normalise their output; `fused_attention` returns it beside the output, and `softmax_columns`
then costs only queries × columns dot products.

`fused_attention` picks the backend the way `F.scaled_dot_product_attention` would for the same inputs
(`torch._fused_sdp_choice`, which honours `torch.nn.attention.sdpa_kernel`) and calls that backend's own operator, so
its output is the one SDPA would return, bit for bit (tested on CPU; `benchmarks/gpu_check.py` checks CUDA). Where
SDPA would use its math backend there is no kernel normaliser: lse is None and the caller computes it
(`logsumexp_of_logits`). The kernels' lse carries no gradient: this is an inference path; code that trains through
the maps keeps the explicit softmax.
"""

from __future__ import annotations

import torch

# torch.nn.attention.SDPBackend values, as `torch._fused_sdp_choice` returns them.
_FLASH, _EFFICIENT, _CUDNN = 1, 2, 3


def fused_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, H, S_q, D) attention output exactly as `F.scaled_dot_product_attention(query, key, value, scale=scale)`
    returns it, and the float32 (B, H, S_q) log-sum-exp of the scaled logits of each query row, or None where SDPA
    would run its math backend. No mask, no dropout, not causal."""
    choice = int(torch._fused_sdp_choice(query, key, value, scale=scale))
    aten = torch.ops.aten
    if choice == _FLASH and query.device.type == "cpu":
        out, lse = aten._scaled_dot_product_flash_attention_for_cpu(query, key, value, 0.0, False, scale=scale)
    elif choice == _FLASH:
        out, lse = aten._scaled_dot_product_flash_attention(query, key, value, 0.0, False, False, scale=scale)[:2]
    elif choice == _EFFICIENT:
        out, lse = aten._scaled_dot_product_efficient_attention(query, key, value, None, True, 0.0, False,
                                                                scale=scale)[:2]
    elif choice == _CUDNN:
        out, lse = aten._scaled_dot_product_cudnn_attention(query, key, value, None, True, 0.0, False, False,
                                                            scale=scale)[:2]
    else:
        return torch.nn.functional.scaled_dot_product_attention(query, key, value, scale=scale), None
    # The memory-efficient kernel pads its lse rows to a multiple of 32; cuDNN may add a trailing unit dimension.
    return out, lse.reshape(*lse.shape[:2], -1)[..., :query.shape[2]].float()


def logsumexp_of_logits(query: torch.Tensor, key: torch.Tensor, scale: float | None = None,
                        chunk: int = 1024) -> torch.Tensor:
    """Float32 (B, H, S_q) log Σ_j exp(q·k_j·scale), computed in query chunks: the fallback where no kernel gives it."""
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    keys_t = key.float().transpose(-1, -2)
    rows = [(query[:, :, i:i + chunk].float() @ keys_t * scale).logsumexp(-1) for i in range(0, query.shape[2], chunk)]
    return torch.cat(rows, dim=-1)


def attention_logsumexp(query: torch.Tensor, key: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """Float32 (B, H, S_q) row normalisers of softmax(q·kᵀ·scale) over all keys, from a fused kernel where SDPA has
    one (the keys stand in for the values: only the normaliser is kept), else computed in chunks."""
    with torch.no_grad():
        _, lse = fused_attention(query, key, key, scale=scale)
        return lse if lse is not None else logsumexp_of_logits(query, key, scale)


def softmax_columns(query: torch.Tensor, key_columns: torch.Tensor, lse: torch.Tensor,
                    scale: float | None = None) -> torch.Tensor:
    """Float32 (B, H, S_q, C) softmax probabilities exp(q·k_c·scale − lse) of the key columns given, for the query
    rows given. query: (B, H, S_q, D); key_columns: (B, H, C, D); lse: (B, H, S_q) of the same rows over all keys."""
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    logits = query.float() @ key_columns.float().transpose(-1, -2) * scale
    return torch.exp(logits - lse[..., None])
