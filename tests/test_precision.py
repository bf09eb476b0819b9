"""Issue 25: bf16 on CPUs that have it natively. The precision is chosen by capability (``cpu_precision``), is part of
every stored key, and gives the same verdicts as fp32 on a small world."""
from __future__ import annotations

import pytest

from lorag_nb.core import claims as C
from lorag_nb.core import config
from lorag_nb.core.store import settings_key


def test_the_precision_follows_the_environment_then_the_cpu(monkeypatch):
    monkeypatch.setattr(config, "cpu_has_native_bf16", lambda: True)
    monkeypatch.delenv(config.PRECISION_ENV, raising=False)
    assert config.cpu_precision() == "bf16"
    monkeypatch.setattr(config, "cpu_has_native_bf16", lambda: False)  # emulated bf16 is slower: keep fp32
    assert config.cpu_precision() == "fp32"
    for value, expected in (("bf16", "bf16"), (" FP32 ", "fp32"), ("auto", "fp32"), ("", "fp32")):
        monkeypatch.setenv(config.PRECISION_ENV, value)
        assert config.cpu_precision() == expected
    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    assert config.auto_precision() == "fp32"  # what auto would pick on this CPU, whatever the variable says
    monkeypatch.setenv(config.PRECISION_ENV, "fp16")
    with pytest.raises(ValueError, match=r"LORAG_NB_PRECISION='fp16' is not a precision; use one of auto, fp32, bf16"):
        config.cpu_precision()


def test_the_precision_is_part_of_every_key_and_fp32_keys_are_unchanged(monkeypatch):
    import hashlib
    import json

    from lorag_nb.core.store import RESULTS_VERSION, knowledge_key

    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    fp32 = settings_key("train", {"lr": 1e-4})
    payload = {"kind": "train", "settings": {"lr": 1e-4}, "data": knowledge_key(), "v": RESULTS_VERSION}  # the key before precisions
    assert fp32 == hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    assert settings_key("train", {"lr": 1e-4}) != fp32


def test_cpu_autocast_computes_in_bf16_only_where_the_precision_says_so(monkeypatch):
    import torch

    from lorag_nb.methods.models import cpu_autocast

    layer = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    with cpu_autocast(layer):
        assert layer(x).dtype == torch.bfloat16
    monkeypatch.setenv(config.PRECISION_ENV, "fp32")
    with cpu_autocast(layer):
        assert layer(x).dtype == torch.float32
    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    with cpu_autocast(layer.to(torch.bfloat16)):  # bf16 weights: nothing to cast
        assert torch.is_autocast_enabled("cpu") is False


def test_cpu_autocast_casts_frozen_weights_once_per_block_with_the_same_numbers(monkeypatch):
    """A frozen layer (a LoRA model's base) is cast to bf16 once per block, as a trainable one is, not once per forward
    (autocast caches casts of leaves that require grad); same outputs as plain autocast; frozen again afterwards."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from lorag_nb.methods.models import cpu_autocast

    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    torch.manual_seed(0)
    x = torch.randn(2, 8)

    def casts(layer) -> tuple[int, torch.Tensor]:
        with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof, cpu_autocast(layer):
            out = [layer(x) for _ in range(3)]
        return sum(e.count for e in prof.key_averages() if e.key == "aten::_to_copy"), torch.stack(out)

    trainable = torch.nn.Linear(8, 8)
    frozen = torch.nn.Linear(8, 8).requires_grad_(False)
    frozen.load_state_dict(trainable.state_dict())
    n_trainable, out_trainable = casts(trainable)
    n_frozen, out_frozen = casts(frozen)
    assert n_frozen == n_trainable == 3 + 2  # the input once per forward; the weight and the bias once per block
    assert torch.equal(out_frozen, out_trainable)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(frozen(x), out_frozen[0])  # the numbers of plain autocast
    assert not any(p.requires_grad for p in frozen.parameters()) and all(p.requires_grad for p in trainable.parameters())

def test_bf16_and_fp32_give_the_same_verdict_on_a_small_world(monkeypatch, embedded):
    """The built-in world's first 60 facts, one wording each: the base model's multiple-choice answers closed book and
    with the gold document (the claim behind "RAG reduces hallucination", on multiple choice), judged by the claims
    engine in both precisions. Measured 2026-12-07 (Intel Xeon, AMX-BF16): the verdicts agree; see the asserts."""
    from lorag_nb.data import knowledge
    from lorag_nb.data.prompts import make_prompt
    from lorag_nb.methods.evaluation import multiple_choice_scores

    model, tok = embedded
    knowledge.use_knowledge(None)
    ks = knowledge.load_knowledge(n_entities=10)
    first = {}
    for q in ks.test_qa:
        first.setdefault(q.fact, q)
    qas = list(first.values())
    docs = [[knowledge.document_for(ks, q).text] for q in qas]
    rows, verdicts = {}, {}
    for precision in ("fp32", "bf16"):
        monkeypatch.setenv(config.PRECISION_ENV, precision)
        closed, oracle = ([{"id": q.id, "fact": q.fact, "mc_correct": max(range(len(s)), key=s.__getitem__) == q.answer_index}
                           for q, s in zip(qas, multiple_choice_scores(model, tok, [make_prompt(tok, q.question, c) for q, c in zip(qas, ctx)], [q.options for q in qas]))]
                          for ctx in ([None] * len(qas), docs))  # the multiple choice evaluate_qa scores, without its generation
        rows[precision] = [r["mc_correct"] for r in closed + oracle]
        verdicts[precision] = C.compare_scores("rag_grounded", C.scores(oracle, "mc_correct", "oracle"), C.scores(closed, "mc_correct", "closed book"))
    n = len(rows["fp32"])
    assert len(qas) == 60 and n == 120
    agree = sum(a == b for a, b in zip(rows["fp32"], rows["bf16"]))
    assert agree >= 0.85 * n, f"{agree} of {n} multiple-choice answers agree"
    assert verdicts["fp32"].verdict == verdicts["bf16"].verdict == C.HOLDS


def _tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)  # grouped-query attention
    ids = torch.randint(1, 64, (3, 7))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0  # a left-padded row
    return LlamaForCausalLM(cfg).eval(), ids, mask


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_the_preallocated_kv_cache_gives_the_same_answers_and_logits_with_keys_in_the_values_dtype(monkeypatch, precision):
    import torch

    from lorag_nb.methods.models import cpu_autocast, kv_cache

    monkeypatch.setenv(config.PRECISION_ENV, precision)
    model, ids, mask = _tiny_llama()
    kw = dict(input_ids=ids, attention_mask=mask, max_new_tokens=6, min_new_tokens=6, do_sample=False, pad_token_id=0,
              output_logits=True, return_dict_in_generate=True)
    with torch.no_grad(), cpu_autocast(model):
        plain = model.generate(**kw)
        cache = kv_cache(model, 7 + 6)
        ours = model.generate(**kw, cache=cache)
    assert torch.equal(plain.sequences, ours.sequences)
    assert all(torch.equal(a, b) for a, b in zip(plain.logits, ours.logits))
    keys = cache.layers[0].keys
    assert keys.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)  # transformers' own: fp32 keys under autocast
    assert keys.shape == (3, 2, 7 + 6 - 1, 8)  # the last token is generated, never fed back
    with pytest.raises(ValueError, match="kv_cache: 7 positions exceed its capacity of 5"):
        model.generate(**kw, cache=kv_cache(model, 5))


def test_the_growing_kv_cache_scores_continuations_of_repeated_prompts_with_the_same_logits(monkeypatch):
    import torch

    from lorag_nb.methods.models import cpu_autocast, kv_cache

    monkeypatch.setenv(config.PRECISION_ENV, "bf16")
    model, ids, mask = _tiny_llama()
    owner = torch.tensor([0, 0, 1, 2, 2])  # each prompt's cache repeated once per continuation, as multiple choice does
    cont = torch.randint(1, 64, (5, 3))
    logits = []
    for cache in (None, kv_cache(model)):
        with torch.no_grad(), cpu_autocast(model):
            first = model(input_ids=ids, attention_mask=mask, use_cache=True, cache=cache)
            c = first.cache if hasattr(first, "cache") else first.past_key_values
            c.batch_select_indices(owner)
            logits.append(model(input_ids=cont, attention_mask=torch.cat([mask[owner], torch.ones_like(cont)], 1), cache=c).logits)
        assert c.layers[0].keys.dtype == (torch.float32 if cache is None else torch.bfloat16)
    assert torch.equal(*logits)


def test_a_sliding_window_model_keeps_transformers_own_cache():
    from transformers import MistralConfig, MistralForCausalLM

    from lorag_nb.methods.models import kv_cache

    cfg = MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, sliding_window=4)
    assert kv_cache(MistralForCausalLM(cfg), 16) is None
