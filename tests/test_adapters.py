"""Tests of lorag_nb.methods.adapters: PEFT LoRA config, fresh wraps, counts, shapes, save/load, merge check."""
from __future__ import annotations

import pytest
import torch

from lorag_nb.core.config import LoraSettings, TrainingSettings
from lorag_nb.methods import adapters
from lorag_nb.methods.models import load_model

#: Trainable parameters per unit of rank with LoRA on all seven projections of SmolLM2-135M:
#: 30 layers × (q 576+576, k 576+192, v 576+192, o 576+576, gate 576+1536, up 576+1536, down 1536+576).
PER_RANK_ALL_LINEAR = 305_280
PER_RANK_ATTENTION = 115_200


@pytest.fixture(scope="module")
def base():
    model, tok = load_model("embedded", device="cpu")
    return model, tok


def _perturb(peft_model, seed: int = 0, scale: float = 0.02) -> None:
    """Give every lora_B random values so the adapter is not the identity (B starts at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * scale)


def _checksum(model) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


@pytest.mark.parametrize("r", [2, 8])
def test_all_linear_trainable_count(base, r):
    model, _ = base
    wrapped = adapters.wrap(model, LoraSettings(r=r, lora_alpha=16, target_modules="all-linear"))
    counts = adapters.parameter_counts(wrapped)
    assert counts["trainable"] == PER_RANK_ALL_LINEAR * r
    assert counts["total"] == 134_515_008 + PER_RANK_ALL_LINEAR * r
    assert adapters.expected_trainable(model, LoraSettings(r=r)) == PER_RANK_ALL_LINEAR * r


def test_expected_trainable_on_meta_model():
    meta = adapters.meta_model("embedded")
    assert adapters.expected_trainable(meta, LoraSettings(r=4, target_modules="attention")) == PER_RANK_ATTENTION * 4
    assert adapters.expected_trainable(meta, LoraSettings(r=3)) == PER_RANK_ALL_LINEAR * 3
    # DoRA adds one magnitude per output feature of each adapted layer
    dora = adapters.expected_trainable(meta, LoraSettings(r=2, target_modules=("q_proj",), use_dora=True))
    assert dora == 30 * (2 * (576 + 576) + 576)


def test_wrapping_twice_gives_independent_models_and_leaves_base_untouched(base):
    model, _ = base
    before = _checksum(model)
    grads_before = [p.requires_grad for p in model.parameters()]
    a = adapters.wrap(model, LoraSettings(r=2, target_modules="attention"))
    b = adapters.wrap(model, LoraSettings(r=16, target_modules="attention"))
    assert adapters.parameter_counts(a)["trainable"] == PER_RANK_ATTENTION * 2
    assert adapters.parameter_counts(b)["trainable"] == PER_RANK_ATTENTION * 16
    # the base got no adapter layers, no frozen flags, no changed weights
    assert not any("lora_" in n for n, _ in model.named_modules())
    assert [p.requires_grad for p in model.parameters()] == grads_before
    assert _checksum(model) == before
    assert a.base_model.model is not model and b.base_model.model is not model


def test_unknown_target_module_names_it_and_lists_linear_layers(base):
    model, _ = base
    with pytest.raises(ValueError) as err:
        adapters.wrap(model, LoraSettings(r=2, target_modules=("q_proj", "qkv_proj")))
    msg = str(err.value)
    assert "qkv_proj" in msg and "gate_proj" in msg and "lm_head" in msg
    assert "'q_proj'" not in msg.split("match")[0]  # only the bad name is reported as missing


@pytest.mark.parametrize(
    "kwargs, field",
    [({"r": 0}, "r"), ({"r": -4}, "r"), ({"lora_alpha": 0}, "lora_alpha"), ({"lora_dropout": 1.0}, "lora_dropout"), ({"lora_dropout": -0.1}, "lora_dropout"), ({"target_modules": ()}, "target_modules")],
)
def test_bad_lora_settings_raise(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LoraSettings(**kwargs)


@pytest.mark.parametrize("lr", [0.0, -1e-4])
def test_bad_learning_rate_raises(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        TrainingSettings(learning_rate=lr)


def test_lora_config_fields():
    cfg = adapters.lora_config(LoraSettings(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="mlp", use_rslora=True))
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.use_rslora, cfg.use_dora) == (4, 8, 0.1, True, False)
    assert set(cfg.target_modules) == {"gate_proj", "up_proj", "down_proj"}
    assert cfg.task_type == "CAUSAL_LM"


def test_lora_shapes_on_real_layers(base):
    model, _ = base
    q = adapters.lora_shapes(model, "q_proj", r=8)
    assert (q.w0, q.a, q.b) == ((576, 576), (8, 576), (576, 8))
    assert q.lora_params == 8 * (576 + 576) and q.w0_params == 576 * 576
    k = adapters.lora_shapes(model, "k_proj", r=4, layer=29)
    assert (k.w0, k.a, k.b) == ((192, 576), (4, 576), (192, 4))
    down = adapters.lora_shapes(adapters.wrap(model, LoraSettings(r=16)), "down_proj")
    assert (down.w0, down.a, down.b) == ((576, 1536), (16, 1536), (576, 16))  # read from the real lora_A/lora_B
    with pytest.raises(ValueError, match="qkv"):
        adapters.lora_shapes(model, "qkv", r=4)


def test_save_then_load_into_fresh_base_gives_identical_logits(base, tmp_path):
    model, tok = base
    wrapped = adapters.wrap(model, LoraSettings(r=4, lora_alpha=8))
    _perturb(wrapped)
    size = adapters.save_adapter(wrapped, tmp_path / "adapter")
    files = sorted(p.name for p in (tmp_path / "adapter").iterdir())
    assert "adapter_model.safetensors" in files and "adapter_config.json" in files
    # ~ 305,280 × 4 fp32 numbers, plus the JSON config
    assert 4 * PER_RANK_ALL_LINEAR * 4 < size < 4 * PER_RANK_ALL_LINEAR * 4 * 1.05
    loaded = adapters.load_adapter(model, tmp_path / "adapter")
    x = adapters.fixed_input(tok)
    assert torch.equal(adapters.logits(wrapped, x), adapters.logits(loaded, x))
    # and the adapter really changes the model (so the equality above is not trivial)
    assert float((adapters.logits(wrapped, x) - adapters.logits(model, x)).abs().max()) > 1e-2
    with pytest.raises(FileNotFoundError):
        adapters.load_adapter(model, tmp_path)


@pytest.mark.parametrize("use_dora", [False, True])
def test_merge_check_within_fp32_tolerance(base, use_dora):
    model, tok = base
    wrapped = adapters.wrap(model, LoraSettings(r=4, lora_alpha=8, target_modules="attention", use_dora=use_dora))
    _perturb(wrapped, seed=1)
    diff = adapters.merge_check(wrapped, tokenizer=tok)
    assert diff <= 1e-4
    assert any("lora_" in n for n, _ in wrapped.named_modules())  # the check merged a copy, not this model
    assert next(wrapped.parameters()).dtype == torch.float32  # and left it in fp32
    if not use_dora:
        assert adapters.merge_check(wrapped, tokenizer=tok, dtype=torch.float64) < diff or diff == 0.0


# --------------------------------------------------------------------------- any architecture: tiny random models, no download


def _tiny(arch: str):
    """A randomly initialised 2-layer model of ``arch`` (hidden 32), built from its config: nothing is downloaded."""
    import transformers as T

    torch.manual_seed(0)
    if arch == "gpt2":
        return T.GPT2LMHeadModel(T.GPT2Config(n_embd=32, n_layer=2, n_head=4, n_positions=64, vocab_size=101, bos_token_id=0, eos_token_id=0))
    cfg = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=101, max_position_embeddings=64)
    return T.LlamaForCausalLM(T.LlamaConfig(**cfg)) if arch == "llama" else T.Qwen2ForCausalLM(T.Qwen2Config(**cfg))


#: Per unit of rank, from the configs by hand (2 layers; d_in + d_out per layer):
#: Llama/Qwen2 (head dim 8, 2 KV heads → k/v out 16): attention q 32+32, k 32+16, v 32+16, o 32+32 = 224; MLP gate 32+64,
#: up 32+64, down 64+32 = 288. GPT-2: attention c_attn 32+96, c_proj 32+32 = 192; MLP c_fc 32+128, c_proj 128+32 = 320.
PER_RANK_TINY = {
    "llama": {"attention": 2 * 224, "mlp": 2 * 288, "all-linear": 2 * 512},
    "qwen2": {"attention": 2 * 224, "mlp": 2 * 288, "all-linear": 2 * 512},
    "gpt2": {"attention": 2 * 192, "mlp": 2 * 320, "all-linear": 2 * 512},
}
TARGETS_TINY = {
    "llama": {"attention": ["q_proj", "k_proj", "v_proj", "o_proj"], "all-linear": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
    "gpt2": {"attention": ["c_attn", "attn.c_proj"], "mlp": ["c_fc", "mlp.c_proj"], "all-linear": ["c_attn", "c_proj", "c_fc"]},  # every c_proj is wanted: the short name suffices
}


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
@pytest.mark.parametrize("preset", ["all-linear", "attention", "mlp"])
def test_presets_on_llama_qwen2_and_gpt2_module_names(arch, preset):
    """Each preset wraps the right layers of each architecture: PEFT's trainable count equals r · Σ(d_in + d_out)
    worked out by hand from the config, and :func:`expected_trainable` (from the module shapes) agrees; the
    wrapped model starts equal to the base (B = 0)."""
    model = _tiny(arch)
    settings = LoraSettings(r=4, lora_alpha=8, target_modules=preset)
    wrapped = adapters.wrap(model, settings)
    want = 4 * PER_RANK_TINY[arch][preset]
    assert adapters.parameter_counts(wrapped)["trainable"] == want
    assert adapters.expected_trainable(model, settings) == want
    assert adapters.per_rank(model, preset) == PER_RANK_TINY[arch][preset]
    if preset in TARGETS_TINY.get(arch, {}):
        assert adapters.resolve_target_modules(model, settings) == TARGETS_TINY[arch][preset]
    adapted = {n.replace("base_model.model.", "") for n, m in wrapped.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}
    assert adapted == set(adapters.targeted_layers(model, settings)) and "lm_head" not in adapted
    if arch == "gpt2" and preset == "attention":
        assert adapted == {f"transformer.h.{i}.attn.{n}" for i in (0, 1) for n in ("c_attn", "c_proj")}  # not mlp.c_proj
    ids = torch.tensor([[1, 5, 7, 9]])
    model.eval(), wrapped.eval()  # GPT-2's dropout
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, wrapped(ids).logits, atol=1e-6)


def test_lora_shapes_and_per_rank_text_come_from_the_model():
    gpt2 = _tiny("gpt2")
    shapes = adapters.lora_shapes(gpt2, "c_attn", r=2)
    assert shapes.w0 == (96, 32) and shapes.a == (2, 32) and shapes.b == (96, 2)  # Conv1D stores 32 × 96: read as d_out × d_in
    text = adapters.per_rank_markdown(gpt2)
    assert "all-linear (8 layers" in text and "**1,024 × r**" in text and "attention (4 layers: `c_attn`, `attn.c_proj`)" in text and "**384 × r**" in text
    meta = adapters.meta_model("embedded")
    assert adapters.per_rank(meta) == PER_RANK_ALL_LINEAR and adapters.per_rank(meta, "attention") == PER_RANK_ATTENTION
    assert f"**{PER_RANK_ALL_LINEAR:,} × r**" in adapters.per_rank_markdown(meta) and "210 layers" in adapters.per_rank_markdown(meta)
    with pytest.raises(ValueError, match=r"target_modules \['q_proj'\] match no linear layer of this model; its linear module names are \['c_attn', 'c_fc', 'c_proj', 'lm_head'\]"):
        adapters.wrap(gpt2, LoraSettings(target_modules=("q_proj",)))
