"""Verification trusts the key pinned outside the database, and says so (issue 16).

The attack: someone who can write the database (and reach the app's Vault key)
replaces the checkpoint key in the keyring, rebuilds the log as they want it and
re-signs its checkpoints with the new key. Trusting the keyring's key, verify
passed. Now the key ``keys bootstrap`` pinned outside the database is the anchor:
the keyring's key must equal it and signatures are checked with it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from audit import tables as at
from audit.anchor import PIN_FILE_NAME
from audit.chain import GENESIS
from audit.checkpoints import CHECKPOINT_KEY
from audit.note import verifier_key_string
from audit.store import encode_frontier
from piivault.bootstrap import bootstrap
from piivault.cli import main
from piivault.container import build_container, startup_check
from piivault.errors import ConfigurationError
from tests.audit.conftest import append, settings_env, tampering
from vault import Signer
from vault import tables as vt


def _problems(report) -> set[str]:
    return {p.kind for p in report.problems}


def _rewrite_and_resign(container) -> object:
    """The attack: a new checkpoint key in the keyring, the log rebuilt and signed with it."""
    with tampering(container) as conn:
        for table in (at.checkpoints, at.nodes, at.events, at.queue):
            conn.execute(table.delete())
        conn.execute(sa.update(at.state).values(size=0, chain_head=GENESIS, frontier=encode_frontier([])))
    with container.session_factory() as s:
        s.execute(vt.sealed_secrets.delete().where(vt.sealed_secrets.c.name == CHECKPOINT_KEY))
        container.keyring.put_secret(s, CHECKPOINT_KEY, Signer.generate().export_seed())
        s.commit()
    forged = build_container(container.settings)  # a fresh process: its sequencer loads the new key
    append(forged, 7, start=100, action="consent.grant")
    forged.audit.checkpoint_now()
    return forged


def test_the_pinned_key_is_written_at_bootstrap_and_named_as_the_anchor(container, audit_log):
    pin = container.settings.erasure_ledger.rsplit("/", 1)[0] + "/" + PIN_FILE_NAME
    with open(pin, encoding="utf-8") as fh:
        assert fh.read().strip() == audit_log.public_key()
    append(container, 5)
    audit_log.checkpoint_now()
    report = audit_log.verify()
    assert report.ok, report.summary()
    assert report.trust_anchor.startswith(f"the pinned key file {pin} (key id ")
    assert f"trust anchor: the pinned key file {pin}" in report.summary()[1]


def test_a_replaced_checkpoint_key_and_a_resigned_log_fail_verification(container, audit_log):
    honest_key = audit_log.public_key()
    append(container, 5)
    audit_log.checkpoint_now()
    forged = _rewrite_and_resign(container)
    try:
        forged_log = forged.audit
        assert forged_log.public_key() != honest_key
        # What verify did before: trust the keyring's key. The forgery is self-consistent.
        assert forged_log.verify(public_key=forged_log.public_key_bytes()).ok

        report = forged_log.verify()
        assert not report.ok
        assert {"trust_anchor", "checkpoint_signature"} <= _problems(report)
        assert "pinned" in report.trust_anchor
        assert any("not the pinned one" in p.message for p in report.problems)

        env = settings_env(forged.settings)
        cli = CliRunner().invoke(main, ["audit", "verify"], env=env)
        assert cli.exit_code == 1 and "trust anchor: the pinned key file" in cli.output
        assert "[trust_anchor]" in cli.output
        # The same pin given as a setting instead of the file.
        by_setting = CliRunner().invoke(
            main, ["audit", "verify"], env=env | {"PIIVAULT_AUDIT_PUBLIC_KEY": honest_key}
        )
        assert by_setting.exit_code == 1 and "trust anchor: PIIVAULT_AUDIT_PUBLIC_KEY" in by_setting.output
        # An outsider with the published key catches it too, and is told the anchor is their key.
        outsider = CliRunner().invoke(main, ["audit", "verify", "--key", honest_key], env=env)
        assert outsider.exit_code == 1 and "trust anchor: the key given with --key" in outsider.output
        # And the service will not start on a keyring whose key is not the pinned one.
        with pytest.raises(ConfigurationError, match="not the pinned one"):
            startup_check(forged)
        with pytest.raises(ConfigurationError, match="not the pinned one"):
            bootstrap(forged)  # nor re-pin it
    finally:
        forged.close()


def test_without_a_pinned_key_verification_fails_and_says_why(container, audit_log, tmp_path):
    pin = tmp_path / PIN_FILE_NAME
    pin.unlink()  # removed, say, by whoever replaced the key
    report = audit_log.verify()
    assert _problems(report) == {"trust_anchor"}
    assert "not pinned" in report.trust_anchor and "keys bootstrap" in report.problems[0].message
    # An explicit key is an anchor of its own.
    assert audit_log.verify(public_key=audit_log.public_key_bytes()).ok


def test_a_pin_for_another_origin_or_garbage_is_a_configuration_error(container, audit_log, tmp_path):
    other = verifier_key_string("elsewhere.example/log", Signer.generate().public_key)
    env = settings_env(container.settings)
    for value, message in ((other, "is for 'elsewhere.example/log'"), ("garbage", "malformed")):
        result = CliRunner().invoke(main, ["audit", "verify"], env=env | {"PIIVAULT_AUDIT_PUBLIC_KEY": value})
        assert result.exit_code == 2 and message in result.output
