"""Hugging Face models take token ids and attention masks by name (``--input NAME=SHAPE``)."""

from __future__ import annotations

import json

import pytest

from cli_run import run

TINY = ["--model-arg", "num_hidden_layers=2", "--model-arg", "hidden_size=64",
        "--model-arg", "intermediate_size=128", "--model-arg", "num_attention_heads=4",
        "--model-arg", "num_key_value_heads=2", "--model-arg", "vocab_size=100"]


def test_token_ids_and_attention_mask_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["model", "hf:LlamaForCausalLM", *TINY, "--input",
                          "input_ids=2x16:int64", "--input", "attention_mask=2x16:int64",
                          "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert [(i["name"], i["shape"], i["dtype"]) for i in d["inputs"]] == [
        ("input_ids", [2, 16], "int64"), ("attention_mask", [2, 16], "int64")]
    assert d["construction"] == "meta" and d["unsupported_ops"] == {}
    assert d["layers"][0]["output_shape"] == [2, 16, 100]
