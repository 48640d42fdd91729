"""Softmax columns from the fused kernel's log-sum-exp: the kernel output is SDPA's bit for bit, the normaliser and the
columns equal an explicit float64 softmax, and the math backend (no kernel normaliser) is reported as such."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402
from torch.nn.functional import scaled_dot_product_attention as sdpa  # noqa: E402

from partbench.attention_columns import (  # noqa: E402
    attention_logsumexp,
    fused_attention,
    logsumexp_of_logits,
    softmax_columns,
)


def _qkv(dtype, b=2, h=3, s=37, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    # (B, S, H, D) permuted to (B, H, S, D): the non-contiguous layout diffusers passes to SDPA
    return [torch.randn(b, s, h, d, generator=g).to(dtype).permute(0, 2, 1, 3) for _ in range(3)]


def _explicit_probs(q, k):
    logits = q.double() @ k.double().transpose(-1, -2) * q.shape[-1] ** -0.5
    return logits.softmax(-1), logits.logsumexp(-1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_attention_is_sdpa_bit_for_bit_and_returns_the_row_normaliser(dtype):
    q, k, v = _qkv(dtype)
    out, lse = fused_attention(q, k, v)
    assert torch.equal(out, sdpa(q, k, v))
    _, want = _explicit_probs(q, k)
    assert lse.dtype == torch.float32 and lse.shape == q.shape[:3]
    assert torch.allclose(lse.double(), want, atol=1e-4 if dtype == torch.float32 else 2e-2)


def test_math_backend_has_no_kernel_normaliser():
    q, k, v = _qkv(torch.float32)
    with sdpa_kernel(SDPBackend.MATH):
        out, lse = fused_attention(q, k, v)
        assert lse is None and torch.equal(out, sdpa(q, k, v))
        fallback = attention_logsumexp(q, k)
    assert torch.allclose(fallback.double(), _explicit_probs(q, k)[1], atol=1e-5)
    assert torch.allclose(logsumexp_of_logits(q, k, chunk=5), fallback, atol=1e-6)  # chunks not dividing 37 rows


def test_softmax_columns_equal_the_explicit_softmax_at_those_columns():
    q, k, _ = _qkv(torch.float32)
    columns = torch.tensor([0, 4, 4, 36])  # a repeated column and the last key
    probs, _ = _explicit_probs(q, k)
    got = softmax_columns(q[:, :, 10:], k[:, :, columns], attention_logsumexp(q, k)[:, :, 10:])
    assert got.shape == (2, 3, 27, 4)
    assert torch.allclose(got.double(), probs[:, :, 10:][..., columns], atol=1e-6)
    # all columns of a row sum to one: the normaliser is the whole row's, not the columns'
    full = softmax_columns(q, k, attention_logsumexp(q, k))
    assert torch.allclose(full.sum(-1), torch.ones(2, 3, 37), atol=1e-5)
