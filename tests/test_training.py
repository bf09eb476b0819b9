"""Tests of lorag_nb.methods.training (one Trainer-based entry point) and the LoRA rank explorer.

Tiny runs only: one or two entities, 2–3 optimizer steps, batches of 2, evaluation capped at 2 questions.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from lorag_nb.core.config import EvalSettings, LoraSettings
from lorag_nb.core.store import Result, ResultsStore
from lorag_nb.data.knowledge import load_knowledge
from lorag_nb.data.prompts import completion, make_prompt
from lorag_nb.experiments import nb01, nb02
from lorag_nb.methods import training
from lorag_nb.methods.models import load_model

TINY_EVAL = EvalSettings(n_entities=1, max_questions=2, max_new_tokens=4, batch_size=4, perplexity_texts=1, perplexity_tokens=32)


def tiny(method: str = "lora", r: int = 4, **kw):
    base = dict(n_entities=1, max_steps=3, batch_size=2, max_length=96, warmup_ratio=0.0)
    base.update(kw)
    if method == "full":
        return nb01.default_full_ft(**base)
    return nb02.default_lora(r=r, **base)


@pytest.fixture(scope="module")
def base():
    return load_model("embedded", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def ks():
    return load_knowledge(n_entities=2)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return ResultsStore(tmp_path_factory.mktemp("store"))


# --------------------------------------------------------------------------- examples and masking


def test_prompt_masked_by_position_and_end_of_turn_learned(base, ks):
    _, tok = base
    q = ks.train_qa[0]
    prompt, target = make_prompt(tok, q.question), completion(tok, q.answer)
    ex = training.qa_example(tok, prompt, target, max_length=256)
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
    n_target = len(tok(target, add_special_tokens=False)["input_ids"])
    assert len(ex["input_ids"]) == n_prompt + n_target == len(ex["labels"])
    assert ex["labels"][:n_prompt] == [-100] * n_prompt
    assert ex["labels"][n_prompt:] == ex["input_ids"][n_prompt:]
    # the end-of-turn token shares its id with the pad token, and must still be a label
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    assert eot == tok.pad_token_id
    assert ex["input_ids"][-1] == eot and ex["labels"][-1] == eot
    # the prompt's own <|im_end|> tokens (end of system and user turns) are masked: only the answer's is learned
    assert sum(1 for i, l in zip(ex["input_ids"], ex["labels"]) if i == eot and l != -100) == 1


def test_truncation_keeps_the_answer(base):
    _, tok = base
    ex = training.qa_example(tok, "word " * 200, "Zorwolova<|im_end|>", max_length=32)
    assert len(ex["input_ids"]) == 32
    assert tok.decode(ex["input_ids"][-len([l for l in ex["labels"] if l != -100]):]) == "Zorwolova<|im_end|>"


def test_collator_pads_right_to_longest_and_keeps_real_eos_label(base, ks):
    _, tok = base
    short = training.qa_example(tok, make_prompt(tok, "Hi?"), completion(tok, "A"), 256)
    long = training.qa_example(tok, make_prompt(tok, ks.train_qa[0].question), completion(tok, ks.train_qa[0].answer), 256)
    batch = training.make_collator(tok)([short, long])
    n_short, width = len(short["input_ids"]), len(long["input_ids"])
    assert batch["input_ids"].shape == (2, width)  # dynamic: the longest in the batch, no fixed length
    assert batch["attention_mask"][0].tolist() == [1] * n_short + [0] * (width - n_short)  # right padding
    assert batch["labels"][0, n_short:].tolist() == [-100] * (width - n_short)
    assert batch["labels"][0, n_short - 1].item() == tok.pad_token_id  # the real <|im_end|> keeps its label
    assert tok.padding_side == "left"  # the caller's tokenizer keeps left padding for generation


def test_document_examples_and_train_on(base):
    _, tok = base
    ks1 = load_knowledge(n_entities=1)
    docs = training.build_examples(tok, ks1, tiny(train_on="documents"))
    assert len(docs) == len(ks1.documents)
    assert all(e["labels"] == e["input_ids"] and e["input_ids"][-1] == tok.eos_token_id for e in docs)
    both = training.build_examples(tok, ks1, tiny(train_on="both"))
    assert len(both) == len(ks1.documents) + len(ks1.train_qa)


def test_paraphrases_and_nested_max_examples(base, ks):
    _, tok = base
    one = training.select_qa(ks.train_qa, paraphrases=1, seed=0)
    facts = {(q.entity_id, q.relation) for q in ks.train_qa}
    assert len(one) == len(facts) and {(q.entity_id, q.relation) for q in one} == facts
    two = training.select_qa(ks.train_qa, paraphrases=2, seed=0)
    assert len(two) == 2 * len(facts)
    small = training.build_examples(tok, ks, tiny(n_entities=2, max_examples=5))
    large = training.build_examples(tok, ks, tiny(n_entities=2, max_examples=20))
    assert len(small) == 5 and large[:5] == small  # a smaller budget is a subset of a larger one


# --------------------------------------------------------------------------- training runs


def test_same_settings_twice_same_losses(base):
    model, tok = base
    s = tiny(r=4)
    a = training.train(s, model, tok)
    b = training.train(s, model, tok)
    assert len(a.loss_history) == 3 and all(math.isfinite(x) for x in a.loss_history)
    assert a.loss_history == b.loss_history
    assert a.trainable_params == 305_280 * 4 and a.steps == 3
    assert 0 < a.tokens <= 3 * 2 * 96 and a.tokens_per_second > 0
    assert a.peak_memory_bytes > 500 * 2**20  # at least the model's fp32 weights
    c = training.train(s.replace(seed=1), model, tok)
    assert c.loss_history != a.loss_history  # the seed changes data order / init


def test_nan_loss_stops_training_and_stores_nothing(base, tmp_path):
    model, tok = base
    broken = __import__("copy").deepcopy(model)
    with torch.no_grad():
        broken.model.norm.weight.fill_(float("nan"))  # every logit NaN → the first loss is NaN
    st = ResultsStore(tmp_path)
    with pytest.raises(training.TrainingDivergedError, match="step 1"):
        training.run_training(tiny(r=2, max_steps=3), store=st, eval_settings=TINY_EVAL, model=broken, tokenizer=tok)
    assert st.all() == []
    assert list(tmp_path.iterdir()) == []  # no record, no adapter folder
    with pytest.raises(training.TrainingDivergedError, match="nan"):
        training.train(tiny("full", max_steps=2), broken, tok)


def test_full_finetuning_run_is_stored_and_cached(base, store):
    model, tok = base
    s = tiny("full", max_steps=2)
    r = training.run_training(s, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    m = r.metrics
    assert m["method"] == "full" and not r.cached
    assert m["training"]["trainable_params"] == m["training"]["total_params"] == 134_515_008
    assert 530e6 < m["training"]["artifact_bytes"] < 545e6  # fp32 safetensors, tied embeddings once
    assert not (store.artifact_dir("train", r.key) / "checkpoint").exists()  # size recorded, checkpoint not kept
    assert len(r.details["loss_history"]) == 2
    assert set(m["forgetting"]) == {"control_drop", "perplexity_change"}
    assert m["forgetting"]["control_drop"] == pytest.approx(m["baseline"]["control_accuracy"] - m["control_accuracy"])
    assert len(store.all("baseline")) == 1
    again = training.run_training(s, store=store, eval_settings=TINY_EVAL)
    assert again.cached and again.key == r.key and again.metrics == json.loads(json.dumps(m))
    with pytest.raises(FileNotFoundError, match="keep_checkpoint"):
        training.load_trained(r, store)


def test_lora_run_reloads_to_the_same_answers(base, store):
    model, tok = base
    s = tiny(r=4, learning_rate=5e-3)
    r = training.run_training(s, store=store, eval_settings=TINY_EVAL, model=model, tokenizer=tok)
    adapter = store.artifact_dir("train", r.key) / "adapter"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert r.metrics["training"]["artifact_bytes"] == sum(f.stat().st_size for f in adapter.iterdir())
    assert len(store.all("baseline")) == 1  # the baseline measured for the full run is reused
    reloaded, tok2 = training.load_trained(r, store)
    from lorag_nb.methods.evaluation import evaluate_qa

    ks1 = load_knowledge(n_entities=1)
    again = evaluate_qa(reloaded, tok2, ks1.test_qa[:2], max_new_tokens=4, batch_size=4)
    assert [row["prediction"] for row in again.rows] == [row["prediction"] for row in r.details["rows"]["test"]]
    assert training.find_training(s, store, TINY_EVAL).key == r.key
    assert training.find_training(s.replace(seed=5), store, TINY_EVAL) is None




# --------------------------------------------------------------------------- rank explorer


def _fake_result(settings, ev, mc: float, losses: list[float], drop: float) -> Result:
    key = training.training_key(settings, ev)
    metrics = {
        "method": settings.method,
        "training": {"trainable_params": 305_280 * settings.lora.r, "seconds": 1.0},
        "test": {"exact_match": mc / 2, "f1": mc / 1.5, "mc_accuracy": mc},
        "control_accuracy": 0.8,
        "perplexity": 20.0,
        "baseline": {"test": {"mc_accuracy": 0.25}, "control_accuracy": 0.85, "perplexity": 19.0},
        "forgetting": {"control_drop": drop, "perplexity_change": drop / 2},
    }
    return Result(kind="train", key=key, settings={"training": settings.to_dict(), "eval": ev.to_dict()}, metrics=metrics, details={"loss_history": losses})


def test_rank_explorer_reads_the_store(tmp_path):
    from lorag_nb.ui.widgets import RankExplorer

    st = ResultsStore(tmp_path)
    ev = training.default_eval(2)
    base_s = nb02.default_lora(n_entities=2)
    st.put(_fake_result(base_s.replace(lora=LoraSettings(r=2, lora_alpha=16)), ev, 0.40, [3.0, 2.0, 1.5], 0.01))
    st.put(_fake_result(base_s.replace(lora=LoraSettings(r=8, lora_alpha=16)), ev, 0.55, [3.0, 1.0, 0.5, 0.25], 0.03))
    dash = RankExplorer(base=base_s, eval_settings=ev, store=st, ranks=(2, 8, 32))
    dash.update(r=8)
    loss = dash.figures["loss"].data[0]
    assert list(loss.y) == [3.0, 1.0, 0.5, 0.25]
    acc = {t.name: t for t in dash.figures["accuracy"].data}
    assert list(acc["test MC acc"].x) == [2, 8] and list(acc["test MC acc"].y) == [0.40, 0.55]
    star = dash.figures["params"].data[-1]
    assert list(star.x) == [8] and list(star.y) == [305_280 * 8]
    forget = {t.name: t for t in dash.figures["forgetting"].data}
    assert list(forget["control drop"].y) == [0.01, 0.03]
    assert dash.train_button.layout.display == "none" and dash.is_trained()
    dash.update(r=2)
    assert list(dash.figures["loss"].data[0].y) == [3.0, 2.0, 1.5]
    assert dash.controls["r"].value == 2
    dash.update(r=32)  # never trained: no loss curve, the Train button appears
    assert len(dash.figures["loss"].data) == 0 and not dash.is_trained()
    assert dash.train_button.layout.display != "none"
    dash.update(target_modules="attention")
    assert list(dash.figures["params"].data[-1].y) == [115_200 * 32]
    with pytest.raises(ValueError, match="unknown control"):
        dash.update(rank=4)


def test_store_key_ignores_float_spelling_but_not_values():
    a = nb02.default_lora(lora_alpha=16, epochs=2)
    b = nb02.default_lora(lora_alpha=16.0, epochs=2.0)
    assert training.training_key(a) == training.training_key(b)
    assert training.training_key(a) != training.training_key(nb02.default_lora(lora_alpha=32))
    assert training.training_key(a) != training.training_key(a, oracle=True)


def test_rank_explorer_train_button_trains_and_joins_the_charts(base, tmp_path):
    from lorag_nb.ui.widgets import RankExplorer

    model, tok = base
    st = ResultsStore(tmp_path)
    dash = RankExplorer(base=tiny(r=2, max_steps=2), eval_settings=TINY_EVAL, store=st, ranks=(2, 4), variants=("LoRA",), model=model, tokenizer=tok)
    assert not dash.is_trained() and dash.train_button.layout.display != "none"
    result = dash.train_current()  # what the Train button runs
    assert dash.progress.value == dash.progress.max == 2  # the bar followed the optimizer steps
    assert dash.is_trained() and dash.train_button.layout.display == "none"
    assert list(dash.figures["loss"].data[0].y) == result.details["loss_history"]
    acc = {t.name: t for t in dash.figures["accuracy"].data}
    assert list(acc["test MC acc"].x) == [2] and list(acc["test MC acc"].y) == [result.metrics["test"]["mc_accuracy"]]
    assert training.find_training(tiny(r=2, max_steps=2), st, TINY_EVAL).key == result.key
