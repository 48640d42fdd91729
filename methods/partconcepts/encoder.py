"""The PartConcept encoder: one text-encoder pass gives the base conditioning and one token per marked part phrase.

The base model conditions the mmDiT on text-encoder hidden states `base_layers` (Klein: 9, 18, 27), the deepest
being L. The PartConcept encoder is the next layers L+1..L+k (k = len(base_layers), so the stacked width matches the
conditioning width), adapted by a LoRA on those decoder layers only. LoRA weights sit downstream of hidden state L,
so the base features are exactly the stock ones, and a single forward yields both.

Each marked phrase's tokens are pooled (last token by default: in a causal encoder it has read the whole phrase and
its context; `mean` is the option) into one PartConcept token that replaces the phrase in the base sequence; the
sequence is then padded back to its original length with the base features of its own trailing (padding) positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from partbench.errors import PartbenchError
from partbench.methods.partconcepts.prompts import MarkedPrompt, parse_marked_prompt

POOLINGS = ("last", "mean")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class PromptTooLongError(PartbenchError):
    """A marked phrase lies beyond the text encoder's token limit (training says which option shortens its prompts)."""


@dataclass
class EncodedPrompts:
    """Conditioning for the mmDiT: (B, T, D) embeddings with PartConcept tokens at `concept_positions` (B, C);
    `concept_mask` (B, C) marks real concepts (prompts with fewer phrases are padded)."""

    embeds: torch.Tensor
    concept_positions: torch.Tensor
    concept_mask: torch.Tensor
    phrases: list[tuple[str, ...]]


def part_layer_indices(base_layers: Sequence[int]) -> list[int]:
    """0-based decoder-layer indices of the PartConcept encoder: hidden_states[L+1+i] is the output of layer L+i."""
    deepest = max(base_layers)
    return [deepest + i for i in range(len(base_layers))]


def apply_partconcept_lora(text_encoder, base_layers: Sequence[int], rank: int, alpha: float | None = None,
                           adapter_name: str = "partconcept"):
    """Inject a LoRA into the PartConcept layers (L+1..L+k) of the text encoder, nothing else (peft
    `layers_to_transform`). Returns the encoder (modified in place)."""
    from peft import LoraConfig, inject_adapter_in_model

    layers = part_layer_indices(base_layers)
    n_layers = text_encoder.config.num_hidden_layers
    if max(layers) >= n_layers:
        raise PartbenchError(f"PartConcepts: the text encoder has {n_layers} layers; the PartConcept encoder needs "
                             f"layers up to {max(layers) + 1} (base layers {tuple(base_layers)}).")
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, target_modules=list(LORA_TARGETS),
                        layers_to_transform=layers, layers_pattern="layers", lora_dropout=0.0)
    return inject_adapter_in_model(config, text_encoder, adapter_name=adapter_name)


class PartConceptEncoder:
    """Turns marked prompts into conditioning with PartConcept tokens (see module docstring)."""

    def __init__(self, text_encoder, tokenizer, base_layers: Sequence[int], max_sequence_length: int,
                 pooling: str = "last", use_chat_template: bool = True):
        if pooling not in POOLINGS:
            raise PartbenchError(f"PartConcepts: pooling must be one of {POOLINGS}, got {pooling!r}.")
        self.text_encoder = text_encoder
        self.tokenizer = tokenizer
        self.base_layers = tuple(base_layers)
        self.part_layers = tuple(i + 1 for i in part_layer_indices(base_layers))  # hidden-state indices
        self.max_sequence_length = max_sequence_length
        self.pooling = pooling
        self.use_chat_template = use_chat_template

    def _template(self, text: str) -> tuple[str, int]:
        """The text the tokenizer sees and where `text` starts inside it (chat templates add a prefix)."""
        if not self.use_chat_template or getattr(self.tokenizer, "chat_template", None) is None:
            return text, 0
        templated = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                       add_generation_prompt=True, enable_thinking=False)
        start = templated.find(text)
        if start < 0:
            raise PartbenchError("PartConcepts: the tokenizer's chat template does not contain the prompt verbatim.")
        return templated, start

    def tokenize(
        self, prompts: Sequence[str]
    ) -> tuple[dict[str, torch.Tensor], list[MarkedPrompt], list[list[list[int]]]]:
        """Token ids/mask for the clean prompts, and, per prompt and phrase, the token positions the phrase covers."""
        marked = [parse_marked_prompt(p) for p in prompts]
        texts, offsets = zip(*(self._template(m.text) for m in marked)) if marked else ((), ())
        enc = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=self.max_sequence_length,
                             return_offsets_mapping=True, return_tensors="pt")
        positions = []
        for b, (m, shift) in enumerate(zip(marked, offsets)):
            spans = enc["offset_mapping"][b].tolist()
            per_phrase = []
            for phrase, (a, z) in zip(m.phrases, m.spans):
                hit = [t for t, (s, e) in enumerate(spans) if e > s and s < z + shift and e > a + shift
                       and enc["attention_mask"][b, t]]
                if not hit:
                    raise PromptTooLongError(f"PartConcepts: phrase [{phrase}] of prompt {prompts[b]!r} falls beyond "
                                             f"the {self.max_sequence_length}-token limit; shorten the prompt.")
                per_phrase.append(hit)
            positions.append(per_phrase)
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, marked, positions

    def hidden_states(self, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(base features, part features), both (B, T, k*H), from one text-encoder pass."""
        device = next(self.text_encoder.parameters()).device
        # The decoder stack only (`base_model`: the Qwen3Model inside Qwen3ForCausalLM): the LM head would turn every
        # position into vocabulary logits that nothing reads (Qwen3-4B: 0.4 TFLOP per 512-token prompt, and 1.2 GB
        # of bf16 logits for 8 of them). The hidden states are the same.
        out = getattr(self.text_encoder, "base_model", self.text_encoder)(
            input_ids=inputs["input_ids"].to(device), attention_mask=inputs["attention_mask"].to(device),
            output_hidden_states=True, use_cache=False)
        hs = out.hidden_states
        return (torch.cat([hs[k] for k in self.base_layers], dim=-1),
                torch.cat([hs[k] for k in self.part_layers], dim=-1))

    def encode(self, prompts: Sequence[str]) -> EncodedPrompts:
        inputs, marked, positions = self.tokenize(prompts)
        base, part = self.hidden_states(inputs)
        B, T, D = base.shape
        n_concepts = max([len(m.phrases) for m in marked] + [1])
        rows, concept_pos = [], torch.zeros(B, n_concepts, dtype=torch.long)
        concept_mask = torch.zeros(B, n_concepts, dtype=torch.bool)
        for b in range(B):
            pieces, cursor, length = [], 0, 0
            for c, toks in enumerate(positions[b]):
                pieces.append(base[b, cursor:toks[0]])
                length += toks[0] - cursor
                pooled = part[b, toks[-1]] if self.pooling == "last" else part[b, toks].mean(0)
                pieces.append(pooled[None])
                concept_pos[b, c], concept_mask[b, c] = length, True
                length += 1
                cursor = toks[-1] + 1
            pieces.append(base[b, cursor:])
            seq = torch.cat(pieces, dim=0)
            # Pad back to T with the base features of the sequence's own last positions (padding tokens when the
            # prompt is shorter than the limit), so every prompt in a batch has the same length.
            rows.append(torch.cat([seq, base[b, seq.shape[0]:]], dim=0) if seq.shape[0] < T else seq)
        return EncodedPrompts(torch.stack(rows), concept_pos.to(base.device), concept_mask.to(base.device),
                              [m.phrases for m in marked])
