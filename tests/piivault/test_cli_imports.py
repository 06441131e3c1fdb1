"""The common commands start without the heavy libraries: only the commands that use
Presidio, spaCy, pandas, pyarrow or matplotlib import them.

Each command runs in a fresh interpreter against a real database and OpenBao; the
assertion is on the modules it loaded (``sys.modules``), never on time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from piivault.cli import LAZY_GROUPS, load_group
from tests.api.conftest import settings_env

HEAVY = (
    "presidio_analyzer",
    "presidio_anonymizer",
    "spacy",
    "jieba",
    "pandas",
    "numpy",
    "matplotlib",
    "pyarrow",
    "pyspark",
)

# What a command that reads API clients, console users or keys has no use for (issue 13): the
# container builds services on first use, so it never imports the packages above identity/
# and the keyring, nor hvac unless it calls Vault, nor the metrics library when it counts nothing.
NOT_FOR_READING_IDENTITIES = (
    "anonymize.extract.service",
    "anonymize.text",
    "consent.service",
    "privacy.purposes",
    "tokenization.service",
    "privacy",
    "access.service",
    "hvac",
    "sqlalchemy.dialects.postgresql",
    "prometheus_client",
    "pythonjsonlogger",
)

# Runs one command as `piivault ...` would, then prints which heavy modules it loaded.
PROBE = """
import json, sys
from piivault.cli import main
try:
    main(sys.argv[1:], prog_name="piivault")
except SystemExit as e:
    status = e.code or 0
else:
    status = 0
heavy = sorted(name for name in json.loads(HEAVY) if name in sys.modules)
print(json.dumps({"status": status, "heavy": heavy}), file=sys.stderr)
"""

COMMANDS = [
    ["--help"],
    ["clients", "create", "--name", "probe", "--role", "admin"],
    ["clients", "list"],
    ["users", "list"],
    ["keys", "status"],
    ["audit", "verify"],
    ["check"],
]


def _run(args: list[str], container, modules: tuple[str, ...] = HEAVY) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")} | settings_env(container)
    probe = PROBE.replace("HEAVY", repr(json.dumps(modules)))
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, timeout=120
    )
    return json.loads(done.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_common_commands_do_not_import_heavy_libraries(container, args):
    result = _run(args, container)
    assert result["status"] == 0, result
    assert result["heavy"] == [], f"`piivault {' '.join(args)}` imported {result['heavy']}"


@pytest.mark.parametrize("args", [["clients", "list"], ["users", "list"]], ids=" ".join)
def test_reading_identities_builds_only_the_identity_stores(container, args):
    """Not the consent, tokenization, access or extract services, nor hvac (no Vault call)."""
    if container.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL the engine loads its dialect")
    result = _run(args, container, NOT_FOR_READING_IDENTITIES)
    assert result == {"status": 0, "heavy": []}, f"`piivault {' '.join(args)}` imported {result['heavy']}"


@pytest.mark.parametrize("args", [["audit", "verify"], ["keys", "status"]], ids=" ".join)
def test_commands_that_serve_no_metrics_do_not_load_the_metrics_library(container, args):
    """Both look up data keys, which the cache counts; only a server's counts can be read
    (:mod:`piivault.counting`), so neither loads prometheus_client."""
    result = _run(args, container, ("prometheus_client", "piivault.metrics"))
    assert result == {"status": 0, "heavy": []}, f"`piivault {' '.join(args)}` imported {result['heavy']}"


def test_a_command_sharing_the_servers_metrics_directory_counts(container, tmp_path, monkeypatch):
    """With ``PROMETHEUS_MULTIPROC_DIR`` a scrape adds up this process's values too, so it counts:
    the probe sees the metrics library loaded, and the test above can fail."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    result = _run(["audit", "verify"], container, ("prometheus_client",))
    assert result == {"status": 0, "heavy": ["prometheus_client"]}, result
    assert any(tmp_path.glob("counter_*.db")), "its counts were not written where a scrape reads them"


def test_the_probe_sees_what_the_container_builds(container):
    """`piivault keys replay-erasures` builds the tokenization and consent services: the probe
    above reports them, so the test above can fail."""
    result = _run(["keys", "replay-erasures"], container, NOT_FOR_READING_IDENTITIES)
    assert result["status"] == 0, result
    assert {"consent.service", "tokenization.service", "hvac"} <= set(result["heavy"]), result


def test_the_probe_sees_heavy_imports(container, tmp_path):
    """The same probe on a command that reads an extract spec reports numpy: the test above can fail."""
    spec = tmp_path / "spec.json"
    spec.write_text("{}", encoding="utf-8")
    result = _run(["extract", "run", str(spec), "--out", str(tmp_path / "out")], container)
    assert result["status"] != 0  # an empty spec is refused, after its parser was imported
    assert "numpy" in result["heavy"], result


@pytest.mark.parametrize(
    "args",
    [["--help"], ["clients", "--help"], ["users", "--help"], ["audit", "--help"], ["keys", "--help"]],
    ids=" ".join,
)
def test_help_does_not_load_the_database_layer(args):
    """`piivault --help` lists the groups from their stand-ins, without importing them."""
    probe = PROBE.replace("HEAVY", repr(json.dumps(["sqlalchemy", "hvac", "identity.clients.store"])))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIIVAULT_")}
    done = subprocess.run(
        [sys.executable, "-c", probe, *args], env=env, capture_output=True, text=True, timeout=120
    )
    result = json.loads(done.stderr.strip().splitlines()[-1])
    assert result == {"status": 0, "heavy": []}


@pytest.mark.parametrize("name", sorted(LAZY_GROUPS))
def test_the_help_line_of_a_lazy_group_is_the_groups_own(name):
    first_paragraph = " ".join(load_group(name).help.split("\n\n")[0].split())
    assert LAZY_GROUPS[name][1] == first_paragraph
