"""The client against the real app on a loopback port (real OpenBao and database), a client per role."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from piivault.settings import Settings
from piivault_client import Forbidden, PiivaultClient
from tests.api.conftest import app, make_key  # noqa: F401
from tests.approved import SECOND_DPO, TEST_DPO
from tests.conftest import make_settings

SERVICE_PURPOSES = ["account_service", "aml_kyc", "risk_scoring", "marketing"]


@pytest.fixture
def settings(database_url: str, bao: Any, tmp_path: Path) -> Settings:
    return make_settings(database_url, bao, tmp_path, extract_dir=str(tmp_path / "extracts"))


@contextlib.contextmanager
def serve(flask_app: Flask) -> Iterator[str]:
    """The app on a free loopback port while the context lasts; gives its URL."""
    server = make_server("127.0.0.1", 0, flask_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:  # noqa: F811
    with serve(app) as url:
        yield url


@pytest.fixture
def connect(base_url: str, make_key: Callable[..., str]) -> Callable[..., PiivaultClient]:  # noqa: F811
    """A client with a new key of ``role`` (service keys get the usual purposes)."""

    def make(role: str, **kwargs: Any) -> PiivaultClient:
        if role in ("service", "analyst"):
            kwargs.setdefault("purposes", SERVICE_PURPOSES if role == "service" else ["risk_scoring"])
        if role == "service":
            kwargs.setdefault("permissions", ["write_attributes"])
        return PiivaultClient(base_url, make_key(role, name=f"client-{role}", **kwargs))

    return make


@pytest.fixture
def service(connect: Callable[..., PiivaultClient]) -> PiivaultClient:
    return connect("service")


@pytest.fixture
def dpo(connect: Callable[..., PiivaultClient]) -> PiivaultClient:
    return connect("dpo", person=TEST_DPO)  # four eyes counts persons


@pytest.fixture
def other_dpo(connect: Callable[..., PiivaultClient]) -> PiivaultClient:
    """A second DPO, another person: approves what the first one asks for."""
    return connect("dpo", person=SECOND_DPO)


def with_second_dpo(other_dpo: PiivaultClient, attempt: Callable[[], Any]) -> Any:
    """``attempt()``; refused ``approval_required`` (four eyes), ``other_dpo`` approves the request
    it names, and the attempt is made again."""
    try:
        return attempt()
    except Forbidden as e:
        assert e.code == "approval_required", e.problem
        other_dpo.approvals.approve(e.problem["approval_id"])
        return attempt()


def new_customer(service: PiivaultClient, subject_id: str = "cust-client-0001") -> str:
    """A subject with a mobile token and consent to marketing; returns its id."""
    service.tokenize(
        [{"field_type": "cn_mobile", "value": "13912345678", "subject_id": subject_id}], strict=True
    )
    service.consents.grant(subject_id, "marketing", "app", evidence="ref:form-0001")
    return subject_id
