"""Settings validation: each bad value raises one ValueError naming the field and the value."""
from __future__ import annotations

import pytest

from lorag_nb.core.config import (
    EvalSettings,
    LoraSettings,
    RagSettings,
    TrainingSettings,
)


@pytest.mark.parametrize(
    "cls, kwargs, fragment",
    [
        (LoraSettings, {"r": 0}, "r=0"),
        (LoraSettings, {"r": -4}, "r=-4"),
        (LoraSettings, {"lora_alpha": 0}, "lora_alpha=0"),
        (LoraSettings, {"lora_dropout": 1.0}, "lora_dropout=1.0"),
        (LoraSettings, {"lora_dropout": -0.1}, "lora_dropout=-0.1"),
        (LoraSettings, {"target_modules": "everything"}, "target_modules='everything'"),
        (LoraSettings, {"target_modules": []}, "target_modules=()"),
        (TrainingSettings, {"learning_rate": 0}, "learning_rate=0"),
        (TrainingSettings, {"train_on": "books"}, "train_on='books'"),
        (TrainingSettings, {"batch_size": 0}, "batch_size=0"),
        (RagSettings, {"top_k": 0}, "top_k=0"),
        (RagSettings, {"chunk_size": 100, "chunk_overlap": 100}, "chunk_overlap=100"),
        (RagSettings, {"search_type": "bm25"}, "search_type='bm25'"),
        (RagSettings, {"lambda_mult": 1.5}, "lambda_mult=1.5"),
        (RagSettings, {"prompt_variant": "nope"}, "prompt_variant='nope'"),
        (EvalSettings, {"max_questions": 0}, "max_questions=0"),
    ],
)
def test_bad_values_named(cls, kwargs, fragment):
    with pytest.raises(ValueError) as err:
        cls(**kwargs)
    assert fragment in str(err.value) and "valid" in str(err.value)


def test_presets_and_roundtrip():
    lora = LoraSettings(r=8, target_modules="attention")
    assert lora.module_names == ("q_proj", "k_proj", "v_proj", "o_proj")
    assert LoraSettings(target_modules=["q_proj", "v_proj"]).module_names == ("q_proj", "v_proj")
    ts = TrainingSettings(lora=lora)
    d = ts.to_dict()
    assert d["lora"]["r"] == 8 and ts.method == "lora"
    assert TrainingSettings(**{**d, "lora": d["lora"]}).lora == lora
    assert TrainingSettings().method == "full"
    assert TrainingSettings(lora=LoraSettings(use_dora=True)).method == "dora"
