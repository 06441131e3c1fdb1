"""Development settings on disk (``./var/dev.env``): when the CLI uses them, and when never."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from piivault import devenv

VALUES = {
    "PIIVAULT_ENV": "development",
    "PIIVAULT_DATABASE_URL": "sqlite:////somewhere/var/piivault.db",
    "PIIVAULT_VAULT_TOKEN": "s.dev-token",
    devenv.URL: "http://127.0.0.1:8080",
}


@pytest.fixture
def dev_dir(tmp_path: Path) -> Path:
    (tmp_path / "var").mkdir()
    devenv.write(tmp_path / devenv.FILE, VALUES)
    return tmp_path


def test_written_for_the_owner_only_and_read_back(dev_dir):
    path = dev_dir / devenv.FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert devenv.read(path) == VALUES


def test_an_existing_file_is_made_private_again(dev_dir):
    path = dev_dir / devenv.FILE
    path.chmod(0o644)
    devenv.write(path, VALUES)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_used_when_no_setting_is_given(dev_dir):
    env: dict[str, str] = {"HOME": "/home/dev"}
    assert devenv.use_if_present(env, dev_dir) == dev_dir / devenv.FILE
    assert env["PIIVAULT_DATABASE_URL"] == VALUES["PIIVAULT_DATABASE_URL"]
    assert env[devenv.URL] == VALUES[devenv.URL]


def test_used_with_env_development_alone(dev_dir):
    env = {"PIIVAULT_ENV": "development"}
    assert devenv.use_if_present(env, dev_dir) is not None


@pytest.mark.parametrize(
    "given",
    [
        {"PIIVAULT_ENV": "production"},
        {"PIIVAULT_ENV": " Production "},
        {"PIIVAULT_DATABASE_URL": "postgresql+psycopg://db/piivault"},
        {"PIIVAULT_LOG_LEVEL": "debug"},
    ],
    ids=["production", "production-spelled-loosely", "database-given", "any-setting-given"],
)
def test_never_used_in_production_or_beside_given_settings(dev_dir, given):
    env = dict(given)
    assert devenv.use_if_present(env, dev_dir) is None
    assert env == given  # nothing added


def test_not_used_when_others_could_have_written_it(dev_dir):
    """Attack: someone who can write the file would choose the database and Vault the CLI talks to."""
    path = dev_dir / devenv.FILE
    path.chmod(0o666)
    env: dict[str, str] = {}
    assert devenv.use_if_present(env, dev_dir) is None
    assert env == {}


def test_only_piivault_settings_are_taken(dev_dir):
    path = dev_dir / devenv.FILE
    path.write_text(path.read_text() + "PATH=/tmp/evil\nLD_PRELOAD=/tmp/evil.so\nPIIVAULT_NOT_A_SETTING=x\n")
    os.chmod(path, 0o600)
    env: dict[str, str] = {}
    devenv.use_if_present(env, dev_dir)
    assert set(env) == set(VALUES)


def test_absent_file_changes_nothing(tmp_path):
    env: dict[str, str] = {}
    assert devenv.use_if_present(env, tmp_path) is None
    assert env == {}
