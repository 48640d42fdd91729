"""PartConcepts: encoder/LoRA placement, token replacement, attention capture vs naive attention, decoder, losses,
training, checkpoint round-trip, generation reproducibility (tiny preset, CPU)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from partbench.errors import PartbenchError  # noqa: E402
from partbench.methods.partconcepts.capture import AttentionCapture, concept_attention_maps  # noqa: E402
from partbench.methods.partconcepts.encoder import PartConceptEncoder, apply_partconcept_lora  # noqa: E402
from partbench.methods.partconcepts.prompts import parse_marked_prompt, part_prompt  # noqa: E402
from partbench.tiny_models.flux2_tiny import TinyFlux2Config, tiny_flux2_components  # noqa: E402


@pytest.fixture(scope="module")
def comps():
    return tiny_flux2_components(0)


def _fresh():
    return tiny_flux2_components(0)


# -- prompts -----------------------------------------------------------------------------------------------------------
def test_marked_prompt_spans():
    m = parse_marked_prompt("a photo of a person with [right upper arm] colored green and a [head]")
    assert m.text == "a photo of a person with right upper arm colored green and a head"
    assert m.phrases == ("right upper arm", "head")
    assert [m.text[a:b] for a, b in m.spans] == ["right upper arm", "head"]
    for bad in ("a [b", "a ]b", "a [] b", "a [[b]]"):
        with pytest.raises(PartbenchError):
            parse_marked_prompt(bad)
    assert part_prompt("cow", ["head", "tail", "neck"]) == "a photo of a cow with [head], [tail] and [neck]"


def test_tiny_preset_is_deterministic_and_tokenizes_unknown_words():
    a, b = tiny_flux2_components(3), tiny_flux2_components(3)
    for pa, pb in zip(a.transformer.parameters(), b.transformer.parameters()):
        assert torch.equal(pa, pb)
    ids = a.tokenizer("a zorb head")["input_ids"]
    assert a.tokenizer.convert_ids_to_tokens(ids) == ["a", "z", "##o", "##r", "##b", "head"]


# -- encoder -----------------------------------------------------------------------------------------------------------
def test_lora_only_on_partconcept_layers():
    c = _fresh()
    cfg = TinyFlux2Config()
    rank = 8
    apply_partconcept_lora(c.text_encoder, c.base_layers, rank)
    lora = {n: p.numel() for n, p in c.text_encoder.named_parameters() if "lora_" in n}
    layers = {int(n.split("layers.")[1].split(".")[0]) for n in lora}
    assert layers == {3, 4, 5}  # hidden states 4..6 = outputs of 0-based layers 3..5 (L = 3)
    h, hd, inter = cfg.text_hidden_size, cfg.text_hidden_size // cfg.text_heads, cfg.text_intermediate_size
    shapes = [(h, cfg.text_heads * hd), (h, cfg.text_kv_heads * hd), (h, cfg.text_kv_heads * hd),
              (cfg.text_heads * hd, h), (h, inter), (h, inter), (inter, h)]
    assert sum(lora.values()) == 3 * sum(rank * (i + o) for i, o in shapes)


def test_base_conditioning_unchanged_by_lora_and_part_features_change():
    from diffusers import Flux2KleinPipeline

    c = _fresh()
    prompt = "a photo of a cow with a red head"
    stock = Flux2KleinPipeline._get_qwen3_prompt_embeds(c.text_encoder, c.tokenizer, prompt,
                                                        max_sequence_length=c.max_sequence_length,
                                                        hidden_states_layers=c.base_layers)
    enc = PartConceptEncoder(c.text_encoder, c.tokenizer, c.base_layers, c.max_sequence_length)
    inputs, _, _ = enc.tokenize([prompt])
    with torch.no_grad():
        _, part_before = enc.hidden_states(inputs)
        apply_partconcept_lora(c.text_encoder, c.base_layers, 4)
        for n, p in c.text_encoder.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)  # a trained-looking LoRA (B starts at zero, which would prove nothing)
        base_after, part_after = enc.hidden_states(inputs)
    assert torch.equal(base_after, stock)
    assert (part_after - part_before).abs().max() > 1e-3


def test_phrase_replaced_by_one_token(comps):
    enc = PartConceptEncoder(comps.text_encoder, comps.tokenizer, comps.base_layers, comps.max_sequence_length)
    prompt = "a photo of a figure with [left upper arm] and [head] colored green"
    inputs, _, positions = enc.tokenize([prompt])
    assert positions == [[[6, 7, 8], [10]]]  # a photo of a figure with | left upper arm | and | head
    with torch.no_grad():
        base, part = enc.hidden_states(inputs)
        out = enc.encode([prompt, "a [head]"])
        mean = PartConceptEncoder(comps.text_encoder, comps.tokenizer, comps.base_layers, comps.max_sequence_length,
                                  pooling="mean").encode([prompt])
    assert out.concept_positions.tolist() == [[6, 8], [1, 0]]
    assert out.concept_mask.tolist() == [[True, True], [True, False]]
    e = out.embeds[0]
    assert torch.equal(e[:6], base[0, :6])  # before the phrase: unchanged
    assert torch.equal(e[6], part[0, 8])  # last token of "left upper arm"
    assert torch.equal(e[7], base[0, 9])  # "and" moved up by two
    assert torch.equal(e[8], part[0, 10])
    assert torch.equal(e[9:46], base[0, 11:48])
    assert e.shape[0] == comps.max_sequence_length
    assert torch.allclose(mean.embeds[0, 6], part[0, 6:9].mean(0))


# -- attention capture -------------------------------------------------------------------------------------------------
class _NaiveAttention:
    """Full attention written out (explicit softmax matrix), recording P: the independent reference."""

    def __init__(self, store, name, single):
        self.store, self.name, self.single = store, name, single

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        from diffusers.models.embeddings import apply_rotary_emb

        heads = lambda x: x.unflatten(-1, (-1, attn.head_dim))  # noqa: E731
        if self.single:
            proj = attn.to_qkv_mlp_proj(hidden_states)
            qkv, mlp = proj.split([3 * attn.inner_dim, proj.shape[-1] - 3 * attn.inner_dim], dim=-1)
            q, k, v = (heads(t) for t in qkv.chunk(3, dim=-1))
            q, k = attn.norm_q(q), attn.norm_k(k)
        else:
            q, k, v = heads(attn.to_q(hidden_states)), heads(attn.to_k(hidden_states)), heads(attn.to_v(hidden_states))
            q, k = attn.norm_q(q), attn.norm_k(k)
            eq, ek = attn.norm_added_q(heads(attn.add_q_proj(encoder_hidden_states))), attn.norm_added_k(
                heads(attn.add_k_proj(encoder_hidden_states)))
            ev = heads(attn.add_v_proj(encoder_hidden_states))
            q, k, v = torch.cat([eq, q], 1), torch.cat([ek, k], 1), torch.cat([ev, v], 1)
        q = apply_rotary_emb(q, image_rotary_emb, sequence_dim=1)
        k = apply_rotary_emb(k, image_rotary_emb, sequence_dim=1)
        p = torch.softmax(torch.einsum("bshd,bthd->bhst", q.double(), k.double()) / attn.head_dim ** 0.5, dim=-1)
        self.store[self.name] = p
        o = torch.einsum("bhst,bthd->bshd", p, v.double()).to(q.dtype).flatten(2)
        if self.single:
            return attn.to_out(torch.cat([o, attn.mlp_act_fn(mlp)], dim=-1))
        T = encoder_hidden_states.shape[1]
        return attn.to_out[0](o[:, T:]), attn.to_add_out(o[:, :T])


class _NaiveSingleAttention(_NaiveAttention):
    def __call__(self, attn, hidden_states, attention_mask=None, image_rotary_emb=None):  # single-stream signature
        return super().__call__(attn, hidden_states, None, attention_mask, image_rotary_emb)


def _transformer_inputs(seed=0, text_len=10):
    from diffusers import Flux2KleinPipeline as P

    from partbench.tiny_models.flux2_tiny import TinyFlux2Config

    cfg = TinyFlux2Config()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4 * cfg.latent_channels, 4, 6, generator=g)  # non-square latent grid: catches h/w mix-ups
    emb = torch.randn(2, text_len, len(cfg.base_layers) * cfg.text_hidden_size, generator=g)
    return dict(hidden_states=P._pack_latents(x), timestep=torch.tensor([0.3, 0.7]), encoder_hidden_states=emb,
                txt_ids=P._prepare_text_ids(emb), img_ids=P._prepare_latent_ids(x), guidance=None, return_dict=False)


def test_capture_matches_naive_full_attention_and_leaves_outputs_unchanged():
    tr = _fresh().transformer
    args = _transformer_inputs()
    positions = torch.tensor([[2, 5, 9], [0, 3, 3]])
    with torch.no_grad():
        stock = tr(**args)[0]
        cap = AttentionCapture(tr, "all", chunk=7)  # chunk not dividing 24 image tokens: exercises the tail
        with cap.recording(positions, 10) as rec:
            captured = tr(**args)[0]
        assert torch.equal(captured, stock)
        store = {}
        procs = {}
        for i, b in enumerate(tr.transformer_blocks):
            procs[i] = b.attn.processor
            b.attn.set_processor(_NaiveAttention(store, f"double.{i}", False))
        for i, b in enumerate(tr.single_transformer_blocks):
            b.attn.set_processor(_NaiveSingleAttention(store, f"single.{i}", True))
        naive_out = tr(**args)[0]
    assert torch.allclose(naive_out, stock, atol=1e-4)  # the naive reference is a faithful forward
    assert rec.layers == ["double.0", "double.1", "single.0", "single.1"] and len(rec.maps) == 4
    for name, got in zip(rec.layers, rec.maps):
        p = store[name][:, :, 10:, :]  # image queries over all keys
        want = torch.stack([p[b][:, :, positions[b]].mean(0).T for b in range(2)])  # (B, C, N)
        assert got.shape == (2, 3, 24)
        assert torch.allclose(got.double(), want, atol=1e-5), name


def test_kernel_normaliser_path_equals_the_explicit_softmax_path_and_training_keeps_gradients(monkeypatch):
    """Inference maps come from the kernel's log-sum-exp (the explicit softmax is never called); the math backend and
    gradient-enabled forwards take the explicit softmax. All three agree to float tolerance, outputs stay stock."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from partbench.methods.partconcepts import capture as capture_module

    tr = _fresh().transformer
    args = _transformer_inputs(seed=1)
    positions = torch.tensor([[2, 5, 9], [0, 3, 3]])
    cap = AttentionCapture(tr, "all")
    explicit = capture_module.concept_attention_maps
    calls = []
    monkeypatch.setattr(capture_module, "concept_attention_maps", lambda *a, **k: calls.append(1) or explicit(*a, **k))
    with torch.no_grad():
        stock = tr(**args)[0]
        with cap.recording(positions, 10) as fused:
            assert torch.equal(tr(**args)[0], stock)
        assert calls == []
        with sdpa_kernel(SDPBackend.MATH), cap.recording(positions, 10) as math:
            math_out = tr(**args)[0]
        assert len(calls) == 4 and torch.allclose(math_out, stock, atol=1e-6)
    args["hidden_states"] = args["hidden_states"].clone().requires_grad_(True)
    with cap.recording(positions, 10) as trained:
        out = tr(**args)[0]
    assert torch.allclose(out, stock, atol=1e-6)
    for a, b, c in zip(fused.maps, math.maps, trained.maps):
        assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c.detach(), atol=1e-6)
    torch.stack(trained.maps).sum().backward()
    assert args["hidden_states"].grad is not None and args["hidden_states"].grad.abs().sum() > 0
    assert capture_module.importlib.import_module(capture_module._FLUX2_MODULE).dispatch_attention_fn \
        is capture_module._ROUTING.original  # the routing is removed when the recordings end


def test_capture_layer_selection_and_gradients():
    tr = _fresh().transformer
    cap = AttentionCapture(tr, "last:2")
    assert cap.layers == ["single.0", "single.1"]
    with pytest.raises(PartbenchError):
        AttentionCapture(tr, "double.7")
    q = torch.randn(1, 12, 2, 4, requires_grad=True)
    k = torch.randn(1, 12, 2, 4, requires_grad=True)
    m = concept_attention_maps(q, k, torch.tensor([[1]]), 4)
    m.sum().backward()
    assert q.grad is not None and m.shape == (1, 1, 8)


# -- decoder and losses ------------------------------------------------------------------------------------------------
def test_decoder_shapes():
    from partbench.methods.partconcepts.decoder import PartMaskDecoder

    dec = PartMaskDecoder(num_maps=4, upsample_stages=2, width=16)
    out = dec.masks(torch.randn(5, 4, 8, 8), torch.randn(5, 3, 32, 32))
    assert out.shape == (5, 32, 32) and out.min() >= 0 and out.max() <= 1
    assert dec(torch.randn(2, 4, 8, 8), torch.randn(2, 3, 30, 34)).shape == (2, 30, 34)


def test_decoder_shared_image_branch_equals_concatenating_the_image_to_every_concept():
    """The decoder computes each stage's image half once per image; the reference concatenates the resized image to
    every concept's features and runs the plain convolutions."""
    from torch.nn import functional as F

    from partbench.methods.partconcepts.decoder import PartMaskDecoder

    torch.manual_seed(0)
    dec = PartMaskDecoder(num_maps=3, upsample_stages=2, width=16).double()
    maps, images = torch.randn(5, 3, 4, 4).double(), torch.randn(2, 3, 16, 16).double()
    index = torch.tensor([0, 0, 1, 1, 1])

    x = maps
    for s, st in enumerate(dec.stages):
        if s:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        image = F.interpolate(images, size=x.shape[-2:], mode="bilinear", align_corners=False, antialias=True)
        x = F.silu(st.norm1(st.conv1(torch.cat([x, image[index]], dim=1))))
        x = F.silu(st.norm2(st.conv2(x)))
    reference = dec.head(x)[:, 0]
    assert torch.allclose(dec(maps, images, index), reference, atol=1e-10)
    # Without an index, map n goes with image n.
    assert torch.allclose(dec(maps[:2], images), dec(maps[:2], images, torch.tensor([0, 1])), atol=1e-12)


def test_part_cross_entropy_hand_worked():
    """One labelled pixel of concept 0 with logits (0, ln 3) over two real concepts: p = 1/4, CE = ln 4; the padded
    third concept (a huge logit) and the unlabelled pixel do not count."""
    import math

    from partbench.methods.partconcepts.losses import part_cross_entropy

    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 1, 0, 0] = math.log(3)
    logits[0, 2] = 100.0
    target = torch.zeros(1, 3, 1, 2)
    target[0, 0, 0, 0] = 1
    valid = torch.ones(1, 1, 2, dtype=torch.bool)
    real = torch.tensor([[True, True, False]])
    assert part_cross_entropy(logits, target, valid, real).item() == pytest.approx(math.log(4), rel=1e-6)
    # The pixel made invalid: nothing to score, a zero loss that still has a graph.
    loss = part_cross_entropy(logits.requires_grad_(), target, torch.zeros_like(valid), real)
    assert loss.item() == 0 and loss.requires_grad


def test_decoder_layouts_agree():
    """Channels-last (the default, faster on CPU) and NCHW compute the same logits and gradients."""
    from partbench.methods.partconcepts.decoder import PartMaskDecoder

    torch.manual_seed(0)
    dec = PartMaskDecoder(num_maps=3, upsample_stages=2, width=16).double()
    maps, images = torch.randn(5, 3, 4, 4, dtype=torch.float64), torch.randn(2, 3, 16, 16, dtype=torch.float64)
    index = torch.tensor([0, 0, 1, 1, 1])
    outs, grads = [], []
    for layout in (False, True):
        dec.channels_last = layout
        m = maps.clone().requires_grad_()
        out = dec(m, images, index)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append(m.grad)
    assert torch.allclose(outs[0], outs[1], atol=1e-10) and torch.allclose(grads[0], grads[1], atol=1e-10)


def test_mirrored_pairs_and_pair_cross_entropy_hand_worked():
    """Sample 0: a 'left hand' pixel with logits (left 2, right 0): -log(e^2 / (e^2 + 1)) = ln(1 + e^-2), and a
    'right hand' pixel with equal logits: ln 2; that pair's loss is their mean. Sample 1: one 'right leg' pixel at
    equal logits: ln 2. The loss averages the two pairs (not the three pixels). Not counted: a pixel labelled with
    both sides, an invalid pixel, the huge logit of 'head', and the pair of feet that has no pixel."""
    import math

    from partbench.methods.partconcepts.losses import mirrored_pairs, pair_cross_entropy

    phrases = [("head", "left hand", "right hand"), ("right leg", "left foot", "left leg", "right foot")]
    pairs = mirrored_pairs(phrases)
    assert pairs == [(0, 1, 2), (1, 0, 2), (1, 1, 3)]
    logits = torch.zeros(2, 4, 2, 3)
    target = torch.zeros(2, 4, 2, 3)
    valid = torch.ones(2, 2, 3, dtype=torch.bool)
    logits[0, 0] = 100.0
    target[0, 1, 0, 0], logits[0, 1, 0, 0] = 1, 2.0
    target[0, 2, 0, 1] = 1
    target[0, 1, 1, 1] = target[0, 2, 1, 1] = 1  # both sides: not a side decision
    target[0, 1, 1, 2], valid[0, 1, 2], logits[0, 2, 1, 2] = 1, False, 9.0  # invalid pixel
    target[1, 0, 1, 0] = 1
    expected = ((math.log(1 + math.exp(-2)) + math.log(2)) / 2 + math.log(2)) / 2
    assert pair_cross_entropy(logits, target, valid, pairs).item() == pytest.approx(expected, rel=1e-6)
    empty = pair_cross_entropy(logits.requires_grad_(), torch.zeros_like(target), valid, pairs)
    assert empty.item() == 0 and empty.requires_grad
    assert pair_cross_entropy(logits, target, valid, []).item() == 0


def test_dice_loss_values():
    from partbench.methods.partconcepts.losses import dice_loss

    target = torch.zeros(1, 2, 4, 4)
    target[0, 0, :2] = 1
    perfect = (target * 2 - 1) * 50
    valid = torch.ones(1, 4, 4, dtype=torch.bool)
    both = torch.ones(1, 2, dtype=torch.bool)
    assert dice_loss(perfect, target, valid, both).item() == pytest.approx(0, abs=1e-6)
    # half-on everywhere: concept 0: 1 - (2*4+1)/(8+8+1); concept 1 (empty target): 1 - 1/(8+1)
    half = torch.zeros(1, 2, 4, 4)
    assert dice_loss(half, target, valid, both).item() == pytest.approx((1 - 9 / 17 + 1 - 1 / 9) / 2, rel=1e-5)
    only_first = torch.tensor([[True, False]])
    assert dice_loss(half, target, valid, only_first).item() == pytest.approx(1 - 9 / 17, rel=1e-5)
