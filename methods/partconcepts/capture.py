"""Attention capture: in one mmDiT forward, each chosen block's softmax attention of every image token over all
keys, read at the PartConcept token columns and averaged over heads -> (B, C, N_img) per layer.

How: while recording, the chosen blocks' attention call (`dispatch_attention_fn`, which diffusers' FLUX.2 processors
call with the exact post-norm, post-RoPE queries, keys and values) is routed through the capture; a pre-hook on each
chosen attention module says which block is running. Everything else of the stock processor runs untouched.

- Inference (no gradient through the queries/keys): the attention is computed by the fused kernel SDPA itself would
  pick (`partbench.attention_columns.fused_attention`: same operator, so the block's output is the stock one bit for
  bit, tested), which also returns each query row's log-sum-exp; the maps then need only the concept columns,
  exp(q·k_c/√d − lse), not a second pass over all keys.
- Training, or where diffusers runs another attention backend or a mask: the stock call computes the output and the
  maps come from an explicit float32 softmax over all keys in query chunks (`concept_attention_maps`), whose gradient
  is exact; under autograd that computation is checkpointed, so backward recomputes the logits instead of keeping
  every layer's. With the transformer's own gradient checkpointing the routing stays installed through backward
  (`keep_for_backward`), so the capture also runs inside each recomputed block.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch.utils.checkpoint import checkpoint

from partbench.attention_columns import fused_attention, softmax_columns
from partbench.errors import PartbenchError

_FLUX2_MODULE = "diffusers.models.transformers.transformer_flux2"


def concept_attention_maps(query: torch.Tensor, key: torch.Tensor, concept_positions: torch.Tensor, text_len: int,
                           chunk: int = 1024) -> torch.Tensor:
    """(B, C, N_img) head-averaged softmax attention of the image queries (positions >= text_len) over all keys,
    at the key columns `concept_positions` (B, C). query/key: (B, S, H, D) after norm and RoPE. Explicit softmax:
    differentiable in both query and key."""
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


def attention_and_concept_maps(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               concept_positions: torch.Tensor, text_len: int
                               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The attention output (B, S, H, D) exactly as diffusers' native backend computes it for these (B, S, H, D)
    inputs, and the (B, C, N_img) concept maps from the kernel's log-sum-exp; maps None where SDPA would use its math
    backend (no kernel normaliser). No gradient flows into the maps."""
    q, k, v = (x.permute(0, 2, 1, 3) for x in (query, key, value))  # the layout diffusers' native backend passes
    out, lse = fused_attention(q, k, v)
    out = out.permute(0, 2, 1, 3)
    if lse is None:
        return out, None
    b, h, _, d = k.shape
    columns = k.gather(2, concept_positions[:, None, :, None].expand(b, h, -1, d))  # (B, H, C, D)
    with torch.no_grad():
        maps = softmax_columns(q[:, :, text_len:], columns, lse[:, :, text_len:]).mean(dim=1)  # (B, N, C)
    return out, maps.transpose(1, 2)


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


Handler = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, tuple, dict], torch.Tensor]


class _Routing:
    """Reference-counted stand-in for the FLUX.2 module's `dispatch_attention_fn`: a call made while a captured
    attention module runs (in this thread) goes to that module's handler, every other call to the original.
    diffusers has no hook between a processor and its attention kernel, and its native backend cannot return the
    log-sum-exp, so the name the processors look up is what is replaced, for as long as a capture needs it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._installed = 0
        self.original: Callable | None = None
        self.current = threading.local()

    def install(self) -> _Removal:
        module = importlib.import_module(_FLUX2_MODULE)
        with self._lock:
            if self._installed == 0:
                original = getattr(module, "dispatch_attention_fn", None)
                if original is None:
                    raise PartbenchError(f"PartConcepts: {_FLUX2_MODULE} has no dispatch_attention_fn; the attention "
                                         "capture needs diffusers >= 0.35.")
                self.original, module.dispatch_attention_fn = original, self.dispatch
            self._installed += 1
        return _Removal(self.uninstall)

    def uninstall(self) -> None:
        with self._lock:
            self._installed -= 1
            if self._installed == 0:
                importlib.import_module(_FLUX2_MODULE).dispatch_attention_fn = self.original

    def dispatch(self, query, key, value, *args, **kwargs):
        handler: Handler | None = getattr(self.current, "handler", None)
        if handler is None:
            return self.original(query, key, value, *args, **kwargs)
        return handler(query, key, value, args, kwargs)


@dataclass
class _Removal:
    remove: Callable[[], None]


_ROUTING = _Routing()
_STOCK_KEYWORDS = frozenset({"attn_mask", "backend", "parallel_config"})


def _native_unmasked(args: tuple, kwargs: dict) -> bool:
    """The stock call would run diffusers' native backend (plain SDPA) without a mask: the fused path reproduces it."""
    if args or set(kwargs) - _STOCK_KEYWORDS or any(v is not None for v in kwargs.values()):
        return False
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    return _AttentionBackendRegistry.get_active_backend()[0] == AttentionBackendName.NATIVE


@dataclass
class Recording:
    """Maps appended in forward order, one (B, C, N_img) tensor per captured layer and forward pass.

    `closed`: the forward is over; a handler still installed for a checkpointed backward computes the maps again (the
    recomputed block must save the same tensors as the original forward) without appending them, and counts
    `recomputed`."""

    layers: list[str]
    maps: list[torch.Tensor] = field(default_factory=list)
    enabled: bool = True
    closed: bool = False
    recomputed: int = 0


class AttentionCapture:
    """Routes the chosen blocks' attention of a `Flux2Transformer2DModel` through the capture while recording.

    With `keep_for_backward` (the transformer uses gradient checkpointing), a recording made under autograd stays
    installed until `release()`: backward re-runs each checkpointed block, and the capture inside it must run
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
        """Remove what was kept installed for a checkpointed backward."""
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
            handles.append(_ROUTING.install())
            for kind, i, block in _blocks(self.transformer):
                if f"{kind}.{i}" in wanted:
                    handles += self._route(block.attn, rec, concept_positions, text_len)
            yield rec
        finally:
            rec.closed = True
            if keep:
                self._pending = handles
            else:
                for h in reversed(handles):
                    h.remove()

    def _route(self, attn, rec: Recording, positions: torch.Tensor, text_len: int) -> list:
        def attend(q, k, v, args, kwargs):
            if not rec.enabled:
                return _ROUTING.original(q, k, v, *args, **kwargs)
            pos = positions.to(q.device)
            trains = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad)
            maps = None
            if not trains and _native_unmasked(args, kwargs):
                out, maps = attention_and_concept_maps(q, k, v, pos, text_len)
            else:
                out = _ROUTING.original(q, k, v, *args, **kwargs)
            if maps is None and trains:
                maps = checkpoint(concept_attention_maps, q, k, pos, text_len, self.chunk, use_reentrant=False)
            elif maps is None:
                maps = concept_attention_maps(q, k, pos, text_len, self.chunk)
            if rec.closed:  # a checkpointed block recomputed in backward: same ops, the forward's maps are kept
                rec.recomputed += 1
            else:
                rec.maps.append(maps)
            return out

        def enter(_module, _args):
            _ROUTING.current.handler = attend

        def leave(_module, _args, _output):
            _ROUTING.current.handler = None

        return [attn.register_forward_pre_hook(enter), attn.register_forward_hook(leave, always_call=True)]
