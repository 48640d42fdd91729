"""A tiny, randomly initialised FLUX.2 Klein (transformer, VAE, Qwen3 text encoder, in-memory tokenizer).

Why: real FLUX.2 Klein weights need a large GPU and cannot be downloaded here, but every code path that uses them
(PartConcepts, ConceptAttention, generation) must run and be tested on a 2-core CPU. The tiny preset uses the *same*
diffusers/transformers classes as the real model (`Flux2Transformer2DModel`, `AutoencoderKLFlux2`,
`Qwen3ForCausalLM`, `Flux2KleinPipeline`), only with small configs, so code written against it runs unchanged on
the real checkpoints.

Stable API (other issues import it):

    tiny_flux2_components(seed=0, config=TinyFlux2Config()) -> Flux2Components
    Flux2Components.pipeline() -> Flux2KleinPipeline

Same seed and config give identical weights (one torch version). The tokenizer is a word-level WordPiece built in memory
from a fixed word list (prompt words, colours, and every object/part word of the demo and Pascal-Part-116 suites);
unknown words fall back to single characters, so any ASCII prompt tokenizes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The text-encoder hidden states that form the base conditioning (1-based: hidden_states[k] is the output of
# decoder layer k), like Klein's (9, 18, 27); the PartConcept encoder uses the three layers after the last one.
TINY_BASE_LAYERS = (1, 2, 3)

_PROMPT_WORDS = """a an the photo picture image of with and in on at is are its his her their colored coloured
painted made wearing has have showing shown style detailed one two three part parts object left right upper lower
front back""".split()
_COLOURS = """red green blue yellow black white orange purple pink brown gray grey golden gold silver cyan magenta
striped dotted metallic wooden""".split()
_SUITE_WORDS = """aeroplane arm back ball beak bicycle bird boat body bottle bus cap car cat chainwheel chair coach
cow diningtable dog door ear engine eye eyebrow figure foot front hair hand handlebar head headlight hoof horn horse
left leg license light lower mirror motorbike mouth muzzle neck nose paw person plant plate pot pottedplant right
robot roof saddle screen sheep side sofa stern tail torso train tvmonitor upper wheel window wing""".split()
TINY_WORDS = tuple(sorted(set(_PROMPT_WORDS + _COLOURS + _SUITE_WORDS)))
_CHARS = [chr(c) for c in range(33, 127)]
SPECIAL_TOKENS = ("<|pad|>", "<|unk|>", "<|endoftext|>")


@dataclass(frozen=True)
class TinyFlux2Config:
    """Sizes of the tiny preset. Constraints (checked by diffusers/transformers at build time):
    sum(axes_dims_rope) == attention_head_dim; in_channels == 4 * latent_channels (2x2 patchify);
    joint_attention_dim == len(base_layers) * text_hidden_size."""

    text_hidden_size: int = 32
    text_layers: int = 7  # base layers 1..3, PartConcept layers 4..6, and one more so layer 6 is not post-norm
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate_size: int = 64
    base_layers: tuple[int, ...] = TINY_BASE_LAYERS
    max_sequence_length: int = 48
    num_layers: int = 2  # double-stream blocks
    num_single_layers: int = 2
    attention_head_dim: int = 16
    num_attention_heads: int = 4
    # RoPE axes (T, H, W, L). Images use H and W; text uses L; T is constant (0) for both. With Klein's theta 2000 and
    # 4 dims an axis, positions on a 16x16 token grid get one frequency that wraps (1 rad/token) and one that barely
    # turns (0.35 rad across the grid): too little to tell an object's left half from its right. 6 dims an axis and
    # theta 256 give 1, 0.16 and 0.025 rad/token, i.e. the grid spans 2.5 rad at the middle frequency.
    axes_dims_rope: tuple[int, int, int, int] = (2, 6, 6, 2)
    rope_theta: int = 256
    # The VAE is random and never trained, so it is a random projection of each 2x2-pixel patch; after the 2x2
    # patchify a transformer token sees 4 * latent_channels numbers for its 4x4 pixels (48 values). With 4 channels
    # (16 numbers) it keeps a third of them, and the tiny mmDiT learned which way a demo object faces worse than with
    # 12, which keep as many numbers as pixel values (benchmarks/facing_probe.py; PartConcepts scored higher on every
    # metric, docs/partconcepts.md). FLUX.2's own VAE has 32 latent channels.
    latent_channels: int = 12
    vae_block_out_channels: tuple[int, ...] = (16, 32)  # 2 blocks: /2 in the VAE, /2 more by patchify -> /4
    vae_norm_num_groups: int = 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Flux2Components:
    """The parts of a FLUX.2 Klein model, tiny or real, plus the text-encoding settings that go with them."""

    transformer: Any  # diffusers.Flux2Transformer2DModel
    vae: Any  # diffusers.AutoencoderKLFlux2
    text_encoder: Any  # transformers.Qwen3ForCausalLM
    tokenizer: Any  # transformers tokenizer with a chat template
    scheduler: Any  # diffusers.FlowMatchEulerDiscreteScheduler
    base_layers: tuple[int, ...]  # hidden-state indices stacked into the conditioning (Klein: 9, 18, 27)
    max_sequence_length: int
    preset: str
    description: dict[str, Any] = field(default_factory=dict)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent pixel; a transformer token covers twice this (2x2 patchify)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def pipeline(self, distilled: bool = True):
        """A `Flux2KleinPipeline` over these components. distilled (Klein): no classifier-free guidance; False (the
        klein-base checkpoints): guidance against the empty prompt."""
        from diffusers import Flux2KleinPipeline

        return Flux2KleinPipeline(scheduler=self.scheduler, vae=self.vae, text_encoder=self.text_encoder,
                                  tokenizer=self.tokenizer, transformer=self.transformer, is_distilled=distilled)


def tiny_tokenizer():
    """A word-level tokenizer over `TINY_WORDS` with a character fallback, built in memory: no download.

    WordPiece matches the longest vocabulary entry first, so a known word is one token and an unknown word
    becomes single characters (`##x` continuations): any ASCII prompt tokenizes, with character offsets."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *TINY_WORDS, *_CHARS, *("##" + c for c in _CHARS)):
        vocab.setdefault(token, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="<|unk|>", max_input_chars_per_word=64))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", unk_token="<|unk|>",
                                   eos_token="<|endoftext|>", padding_side="right")
    # Klein wraps prompts in Qwen's chat template; the tiny model has no chat format, so the template is the text.
    fast.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    return fast


def tiny_flux2_components(seed: int = 0, config: TinyFlux2Config | None = None) -> Flux2Components:
    """Build the tiny preset with weights drawn from `seed` (CPU, float32)."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Transformer2DModel
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = config or TinyFlux2Config()
    tokenizer = tiny_tokenizer()
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        text_encoder = Qwen3ForCausalLM(Qwen3Config(
            vocab_size=len(tokenizer), hidden_size=cfg.text_hidden_size, intermediate_size=cfg.text_intermediate_size,
            num_hidden_layers=cfg.text_layers, num_attention_heads=cfg.text_heads,
            num_key_value_heads=cfg.text_kv_heads, head_dim=cfg.text_hidden_size // cfg.text_heads,
            max_position_embeddings=max(128, cfg.max_sequence_length), pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True))
        transformer = Flux2Transformer2DModel(
            patch_size=1, in_channels=4 * cfg.latent_channels, out_channels=None, num_layers=cfg.num_layers,
            num_single_layers=cfg.num_single_layers, attention_head_dim=cfg.attention_head_dim,
            num_attention_heads=cfg.num_attention_heads,
            joint_attention_dim=len(cfg.base_layers) * cfg.text_hidden_size,
            timestep_guidance_channels=64, axes_dims_rope=cfg.axes_dims_rope, rope_theta=cfg.rope_theta,
            guidance_embeds=False)
        n = len(cfg.vae_block_out_channels)
        vae = AutoencoderKLFlux2(
            in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=cfg.vae_block_out_channels,
            layers_per_block=1, latent_channels=cfg.latent_channels, norm_num_groups=cfg.vae_norm_num_groups,
            sample_size=64, use_quant_conv=False, use_post_quant_conv=False)
    finally:
        torch.random.set_rng_state(generator_state)  # building the preset must not disturb the caller's RNG
    for module in (text_encoder, transformer, vae):
        module.eval()
    return Flux2Components(
        transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(), base_layers=tuple(cfg.base_layers),
        max_sequence_length=cfg.max_sequence_length, preset="tiny",
        description={"preset": "tiny", "seed": seed, "config": cfg.to_dict()},
    )
