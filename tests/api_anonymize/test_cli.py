"""``piivault anonymize text``: the engine at the terminal, JSON out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from piivault.cli import main
from tests.api_anonymize.test_anonymize_http import ID_NUMBER, MOBILE, TEXT


def test_anonymize_text_argument_and_stdin():
    runner = CliRunner()
    r = runner.invoke(main, ["anonymize", "text", TEXT, "--operator", "mask"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert "138****5678" in out["text"] and ID_NUMBER not in out["text"]
    assert [e["type"] for e in out["entities"]] == ["name", "cn_resident_id", "cn_mobile", "cn_mobile"]
    r = runner.invoke(main, ["anonymize", "text", "--language", "zh"], input=TEXT)
    assert r.exit_code == 0 and "<CN_MOBILE_1>" in json.loads(r.output)["text"]


def test_tokenize_is_not_offered_locally():
    r = CliRunner().invoke(main, ["anonymize", "text", MOBILE, "--operator", "tokenize"])
    assert r.exit_code == 2 and MOBILE not in r.output
