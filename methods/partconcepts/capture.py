"""Attention capture: in one mmDiT forward, each chosen block's softmax attention of every image token over all
keys, read at the PartConcept token columns and averaged over heads -> (B, C, N_img) per layer.

How: forward hooks on the attention modules' `norm_q`/`norm_k` (and `norm_added_q`/`norm_added_k` in double-stream
blocks) pick up the exact query/key tensors the stock processor uses; a hook after the attention module applies the
block's RoPE, computes the maps in query chunks, and drops the query/key references. Hooks only read, so the
model's outputs are those of the stock forward (tested), whatever attention backend it dispatches to.

Memory: one layer's logits at a time, and at most `chunk` query rows of them. Under autograd the map computation is
checkpointed, so backward recomputes the logits instead of keeping every layer's. With the transformer's own gradient
checkpointing the hooks stay installed through backward (`keep_for_backward`), so the capture also runs inside each
recomputed block.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.utils.checkpoint import checkpoint

from partbench.errors import PartbenchError


def concept_attention_maps(query: torch.Tensor, key: torch.Tensor, concept_positions: torch.Tensor, text_len: int,
                           chunk: int = 1024) -> torch.Tensor:
    """(B, C, N_img) head-averaged softmax attention of the image queries (positions >= text_len) over all keys,
    at the key columns `concept_positions` (B, C). query/key: (B, S, H, D) after norm and RoPE."""
    B, S, H, D = query.shape
    image_q = query[:, text_len:].transpose(1, 2).float()  # (B, H, N, D)
    keys = key.transpose(1, 2).float()  # (B, H, S, D)
    cols = concept_positions[:, None, None, :]
    out = []
    for start in range(0, image_q.shape[2], chunk):
        logits = image_q[:, :, start:start + chunk] @ keys.transpose(-1, -2) * D ** -0.5  # (B, H, n, S)
        probs = logits.softmax(dim=-1)
        picked = probs.gather(-1, cols.expand(B, H, probs.shape[2], cols.shape[-1]))  # (B, H, n, C)
        out.append(picked.mean(dim=1))
        del logits, probs
    return torch.cat(out, dim=1).transpose(1, 2)


def _blocks(transformer) -> list[tuple[str, int, torch.nn.Module]]:
    return ([("double", i, b) for i, b in enumerate(transformer.transformer_blocks)]
            + [("single", i, b) for i, b in enumerate(transformer.single_transformer_blocks)])


def resolve_layers(transformer, layers: str | Sequence[str]) -> list[str]:
    """Layer names like 'double.1', 'single.0'; 'all' = every double- and single-stream block;
    'last:K' = the last K blocks in forward order."""
    names = [f"{kind}.{i}" for kind, i, _ in _blocks(transformer)]
    if isinstance(layers, str):
        if layers == "all":
            return names
        if layers.startswith("last:"):
            return names[-int(layers.split(":", 1)[1]):]
        layers = [s.strip() for s in layers.split(",") if s.strip()]
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise PartbenchError(f"PartConcepts: unknown capture layers {unknown}; the model has {', '.join(names)}.")
    return [n for n in names if n in layers]  # forward order


@dataclass
class _Stash:
    q: torch.Tensor | None = None
    k: torch.Tensor | None = None
    eq: torch.Tensor | None = None
    ek: torch.Tensor | None = None
    rope: tuple | None = None


@dataclass
class Recording:
    """Maps appended in forward order, one (B, C, N_img) tensor per captured layer and forward pass.

    `closed`: the forward is over; hooks still installed for a checkpointed backward compute the maps again (the
    recomputed block must save the same tensors as the original forward) without appending them, and count
    `recomputed`."""

    layers: list[str]
    maps: list[torch.Tensor] = field(default_factory=list)
    enabled: bool = True
    closed: bool = False
    recomputed: int = 0


class AttentionCapture:
    """Installs read-only hooks on the chosen blocks of a `Flux2Transformer2DModel` while recording.

    With `keep_for_backward` (the transformer uses gradient checkpointing), a recording made under autograd leaves its
    hooks installed until `release()`: backward re-runs each checkpointed block, and the capture inside it must run
    again, or the recomputation would save fewer tensors than the forward did (torch refuses that) and the maps'
    gradients would have nothing to flow through. Call `release()` after backward."""

    def __init__(self, transformer, layers: str | Sequence[str] = "all", chunk: int = 1024):
        self.transformer = transformer
        self.layers = resolve_layers(transformer, layers)
        self.chunk = chunk
        self.keep_for_backward = False
        self._pending: list = []
        self.last: Recording | None = None

    def release(self) -> None:
        """Remove hooks kept for a checkpointed backward."""
        for h in self._pending:
            h.remove()
        self._pending = []

    @contextmanager
    def recording(self, concept_positions: torch.Tensor, text_len: int) -> Iterator[Recording]:
        self.release()
        rec = Recording(list(self.layers))
        self.last = rec
        handles = []
        wanted = set(self.layers)
        keep = self.keep_for_backward and torch.is_grad_enabled()
        try:
            for kind, i, block in _blocks(self.transformer):
                if f"{kind}.{i}" in wanted:
                    handles += self._hook(block.attn, kind, rec, concept_positions, text_len)
            yield rec
        finally:
            rec.closed = True
            if keep:
                self._pending = handles
            else:
                for h in handles:
                    h.remove()

    def _hook(self, attn, kind: str, rec: Recording, positions: torch.Tensor, text_len: int) -> list:
        stash = _Stash()

        def keep(name):
            def hook(_module, _inputs, output):
                setattr(stash, name, output)
            return hook

        def before(_module, _args, kwargs):
            stash.rope = kwargs.get("image_rotary_emb")

        def after(_module, _args, _kwargs, _output):
            if not rec.enabled:
                stash.q = stash.k = stash.eq = stash.ek = None
                return
            if kind == "double":
                q, k = torch.cat([stash.eq, stash.q], dim=1), torch.cat([stash.ek, stash.k], dim=1)
            else:
                q, k = stash.q, stash.k
            stash.q = stash.k = stash.eq = stash.ek = None
            if stash.rope is not None:
                from diffusers.models.embeddings import apply_rotary_emb

                q = apply_rotary_emb(q, stash.rope, sequence_dim=1)
                k = apply_rotary_emb(k, stash.rope, sequence_dim=1)
            pos = positions.to(q.device)
            if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad):
                maps = checkpoint(concept_attention_maps, q, k, pos, text_len, self.chunk, use_reentrant=False)
            else:
                maps = concept_attention_maps(q, k, pos, text_len, self.chunk)
            if rec.closed:  # a checkpointed block recomputed in backward: same ops, the forward's maps are kept
                rec.recomputed += 1
                return
            rec.maps.append(maps)

        handles = [attn.norm_q.register_forward_hook(keep("q")), attn.norm_k.register_forward_hook(keep("k")),
                   attn.register_forward_pre_hook(before, with_kwargs=True),
                   attn.register_forward_hook(after, with_kwargs=True)]
        if kind == "double":
            handles += [attn.norm_added_q.register_forward_hook(keep("eq")),
                        attn.norm_added_k.register_forward_hook(keep("ek"))]
        return handles
