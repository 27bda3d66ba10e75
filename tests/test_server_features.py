"""The server's ``hf:`` targets, checkpointing, generation and fit (issue 27 item 8), on the
real server (:func:`test_server.start`).

Oracle: ``convcost model`` run in-process with the same options (``--format json``), whose
documents the API's must equal key for key; each refusal is the CLI's, as a 400 naming the
JSON key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from cli_run import run
from test_server import Server, start

#: A two-layer GPT-2, small enough to analyse in seconds (config fields as model_args).
GPT2 = {"n_layer": 2, "n_embd": 64, "n_head": 2, "vocab_size": 1000, "n_positions": 128}
GPT2_FLAGS = [f for k, v in GPT2.items() for f in ("--model-arg", f"{k}={v}")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory.mktemp("features"), "--workers", "1", "--timeout", "120")


def cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    code, out, err = run(args, capsys)
    assert code == 0, err
    return json.loads(out)


def cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run(args, capsys)
    assert code == 2, err
    return err


@pytest.mark.slow
def test_hf_target_with_checkpoint_and_fit_equals_the_cli(
        server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"target": "hf:GPT2LMHeadModel", "model_args": GPT2, "inputs": ["1x32:int64"],
            "optimizer": "adamw", "checkpoint": r"h\.\d+$", "device": "h100-sxm",
            "fit": True}
    status, doc, headers = server.post("/api/model", body)
    assert status == 200, doc
    cli = cli_json(["model", "hf:GPT2LMHeadModel", *GPT2_FLAGS, "--input", "1x32:int64",
                    "--optimizer", "adamw", "--checkpoint", r"h\.\d+$", "--device",
                    "h100-sxm", "--fit", "--json"], capsys)
    for key in ("model", "construction", "checkpoint", "totals", "memory", "layers", "fit"):
        assert doc[key] == cli[key], key
    assert doc["checkpoint"] == r"h\.\d+$" and doc["fit"]["batch"] >= 1
    assert doc["hardware"]["step_s"] == cli["hardware"]["step_s"]
    # the job id covers the new keys: the same request is a cache hit, another fit is not
    again = server.post("/api/model", body)
    assert again[0] == 200 and again[2]["x-convcost-cache"] == "hit"
    assert again[2]["x-convcost-result"] == headers["x-convcost-result"]
    other = server.post("/api/model", {**body, "fit": False})
    assert other[0] == 200 and other[2]["x-convcost-cache"] == "miss"
    assert "fit" not in other[1] and other[1]["totals"] == doc["totals"]


@pytest.mark.slow
def test_generation_equals_the_cli(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    body = {"target": "hf:GPT2LMHeadModel", "model_args": GPT2, "mode": "generate",
            "prompt_len": 16, "new_tokens": 4, "batch": 2, "device": "h100-sxm"}
    status, doc, headers = server.post("/api/model", body)
    assert status == 200, doc
    cli = cli_json(["model", "hf:GPT2LMHeadModel", *GPT2_FLAGS, "--mode", "generate",
                    "--prompt-len", "16", "--new-tokens", "4", "--batch", "2", "--device",
                    "h100-sxm", "--json"], capsys)
    assert doc == cli
    assert (doc["kind"], doc["batch"], doc["prompt_len"], doc["new_tokens"]) == \
        ("generation", 2, 16, 4)
    # a generation has no HTML report: 400 naming format, here and for the stored result
    status, answer, _ = server.post("/api/model?format=html", body)
    assert status == 400 and answer["field"] == "format", answer
    code, _, raw = server.request("GET", headers["x-convcost-result"]
                                  + "?format=html")
    assert code == 400 and json.loads(raw)["field"] == "format"


#: Refused requests (checked before any worker runs) -> the key named, and the CLI's
#: flags for the same refusal (None: the server's own: the CLI reads hub names and files).
BASE = {"target": "torchvision:resnet18", "inputs": ["1x3x32x32"]}
GEN = {"target": "hf:GPT2LMHeadModel", "model_args": GPT2, "mode": "generate",
       "prompt_len": 8, "new_tokens": 2}
REFUSALS: list[tuple[dict[str, Any], str, list[str] | None]] = [
    ({**BASE, "fit": True}, "fit", ["--fit"]),
    ({**BASE, "fit": True, "device": "h100-sxm", "mode": "inference"}, "mode",
     ["--fit", "--device", "h100-sxm", "--mode", "inference"]),
    ({**BASE, "checkpoint": "(a+)+$"}, "checkpoint", ["--checkpoint", "(a+)+$"]),
    ({**BASE, "checkpoint": "x" * 300}, "checkpoint", ["--checkpoint", "x" * 300]),
    ({**BASE, "checkpoint": "layer1", "mode": "inference"}, "checkpoint",
     ["--checkpoint", "layer1", "--mode", "inference"]),
    ({**BASE, "prompt_len": 8}, "prompt_len", ["--prompt-len", "8"]),
    ({**BASE, "batch": 2}, "batch", None),
    ({**GEN, "batch": 0}, "batch", None),
    ({**GEN, "prompt_len": None}, "prompt_len", None),
    ({**GEN, "new_tokens": 0}, "new_tokens", None),
    ({**GEN, "inputs": ["1x8:int64"]}, "inputs", ["--input", "1x8:int64"]),
    ({**GEN, "optimizer": "adamw"}, "optimizer", ["--optimizer", "adamw"]),
    ({**GEN, "checkpoint": "h"}, "checkpoint", ["--checkpoint", "h"]),
    ({**GEN, "fit": True, "device": "h100-sxm"}, "fit", ["--fit", "--device", "h100-sxm"]),
    ({**GEN, "freeze": "wte"}, "freeze", ["--freeze", "wte"]),
    ({**GEN, "tf32": True}, "tf32", ["--tf32"]),
    ({"target": "hf:gpt2", "inputs": ["1x8:int64"]}, "target", None),
    ({"target": "hf:org/name", "inputs": ["1x8:int64"]}, "target", None),
    ({"target": "hf:../config.json", "inputs": ["1x8:int64"]}, "target", None),
    ({"target": "hf:GPT2LMHeadModel", "model_args": {"n_layer": 2**40},
      "inputs": ["1x8:int64"]}, "model_args", None),
]


@pytest.mark.parametrize(("body", "field", "flags"), REFUSALS)
def test_refusals_name_the_key(server: Server, capsys: pytest.CaptureFixture[str],
                               body: dict[str, Any], field: str,
                               flags: list[str] | None) -> None:
    status, doc, _ = server.post("/api/model", body)
    assert status == 400 and doc["field"] == field, doc
    if field == "target":
        assert "offline" in doc["error"] and "hf:GPT2LMHeadModel" in doc["error"]
    if flags is not None:  # the CLI refuses the same combination (without building)
        gen = body.get("mode") == "generate"
        target = ["hf:GPT2LMHeadModel", *GPT2_FLAGS, "--mode", "generate", "--prompt-len",
                  "8", "--new-tokens", "2"] if gen else [body["target"], "--input",
                                                          "1x3x32x32"]
        err = cli_error(["model", *target, *flags], capsys)
        assert "--" + field.replace("_", "-").removesuffix("s") in err, err


def test_worker_refusals_equal_the_cli(server: Server,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # more token ids than the model has positions (n_positions = 128): the CLI's refusal
    body = {"target": "hf:GPT2LMHeadModel", "model_args": GPT2, "inputs": ["1x200:int64"]}
    status, doc, _ = server.post("/api/model", body)
    assert status == 400 and doc["field"] == "inputs", doc
    err = cli_error(["model", "hf:GPT2LMHeadModel", *GPT2_FLAGS, "--input", "1x200:int64"],
                    capsys)
    assert "n_positions = 128" in doc["error"] and "n_positions = 128" in err
    # a model that cannot generate: the CLI names --mode generate, the API mode
    body = {"target": "torchvision:resnet18", "mode": "generate", "prompt_len": 4,
            "new_tokens": 2}
    status, doc, _ = server.post("/api/model", body)
    assert status == 400 and doc["field"] == "mode", doc
    err = cli_error(["model", "torchvision:resnet18", "--mode", "generate", "--prompt-len",
                     "4", "--new-tokens", "2"], capsys)
    assert "--mode" in err and doc["error"].split(";")[-1] in err


def test_unknown_architecture_is_refused_in_the_worker(server: Server) -> None:
    status, doc, _ = server.post("/api/model", {"target": "hf:NoSuchArchitectureForX",
                                                "inputs": ["1x8:int64"]})
    assert status == 400 and doc["field"] == "target", doc
    assert "not an architecture" in doc["error"] and "offline" in doc["error"]


def test_openapi_documents_the_keys(server: Server) -> None:
    _, doc = server.get("/api/openapi.json")
    props = doc["paths"]["/api/model"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"]
    assert {"checkpoint", "fit", "prompt_len", "new_tokens", "batch"} <= set(props)
    assert "generate" in props["mode"]["enum"]


@pytest.mark.browser
def test_page_sends_checkpoint_and_fit(server: Server) -> None:
    """The model form's checkpoint field and fit box reach the request body and the CLI
    command (the request is answered by the test, so nothing is analysed)."""
    import shlex

    from playwright.sync_api import sync_playwright

    from test_server_page import CHROMIUM_ARGS

    sent: list[Any] = []
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    try:
        page = browser.new_page()

        def answer(route: Any) -> None:
            sent.append(json.loads(route.request.post_data or "null"))
            route.fulfill(status=400, content_type="application/json",
                          body=json.dumps({"error": "checkpoint: stop here",
                                           "field": "checkpoint"}))

        page.route(lambda url: url.split("?")[0].endswith("/api/model"), answer)
        page.goto(server.url + "/")
        page.click("#tab-model")
        page.wait_for_selector('#m-device option[value="h100-sxm"]', state="attached",
                               timeout=60_000)
        assert page.is_disabled("#m-fit")  # no device: no memory to fit
        page.fill("#m-target", "torchvision:resnet18")
        page.fill("#m-inputs", "2x3x32x32")
        page.select_option("#m-device", "h100-sxm")
        page.fill("#m-checkpoint", r"^layer\d$")
        page.check("#m-fit")
        page.click("#copy-cli")
        words = shlex.split(page.inner_text("#command"))
        assert words[words.index("--checkpoint") + 1] == r"^layer\d$" and "--fit" in words
        page.click("#run")
        page.wait_for_selector('#m-checkpoint[aria-invalid="true"]', timeout=20_000)
        assert sent and sent[0]["checkpoint"] == r"^layer\d$" and sent[0]["fit"] is True
        page.select_option("#m-mode", "inference")  # neither applies to inference
        assert page.is_disabled("#m-fit") and page.is_disabled("#m-checkpoint")
    finally:
        browser.close()
        pw.stop()
