"""The app's Flask: a plain function is called as is, without asking inspect on every request;
and every request is counted under its method, route template and status, a made-up method
under ``other``."""

from __future__ import annotations

import functools

import flask.app

from piivault import metrics
from tests.api.conftest import bearer


def test_plain_functions_pass_and_coroutines_are_flasks_to_judge(app, monkeypatch):
    asked: list[object] = []
    ask = flask.app.iscoroutinefunction

    def recording(func: object) -> bool:
        asked.append(func)
        return ask(func)

    monkeypatch.setattr(flask.app, "iscoroutinefunction", recording)
    wrapped: list[object] = []
    monkeypatch.setattr(app, "async_to_sync", lambda func: wrapped.append(func) or func)

    def plain() -> None: ...

    async def coroutine() -> None: ...

    class View:
        def method(self) -> None: ...

        async def coroutine_method(self) -> None: ...

    view = View()
    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(view.method) == view.method
    assert asked == []  # neither was asked of inspect

    partial = functools.partial(coroutine)
    marked = functools.wraps(plain)(lambda: None)
    marked._is_coroutine_marker = object()  # as Python 3.12's inspect.markcoroutinefunction marks
    for func in (coroutine, view.coroutine_method, partial, marked):
        app.ensure_sync(func)
    assert asked == [coroutine, view.coroutine_method, partial, marked]  # each asked, as Flask asks
    assert wrapped == [coroutine, view.coroutine_method, partial]  # and run as Flask runs them


def test_a_request_is_counted_under_its_method_route_and_status(client, admin_key):
    counted = metrics.HTTP_REQUESTS.labels(method="get", route="/v1/clients", status="200")
    before = counted._value.get()
    resp = client.get("/v1/clients", headers=bearer(admin_key))
    assert resp.status_code == 200
    assert counted._value.get() == before + 1  # observe's after_request hook, its labels in order
    assert resp.headers["Cache-Control"] == "no-store"  # and the security headers' hook


def _methods() -> set[str]:
    return {s.labels["method"] for family in metrics.HTTP_REQUESTS.collect() for s in family.samples}


def test_a_made_up_method_makes_no_series_of_its_own(client):
    """A client picks the method: each made-up one would be a new series (and a histogram's
    dozen) for as long as the process lives."""
    for method in ("FOOBAR", "FOOBAZ"):
        client.open("/v1/clients", method=method)
    assert "other" in _methods()
    assert not _methods() & {"foobar", "foobaz"}
