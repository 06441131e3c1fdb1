"""The app's Flask: a plain function is called as is, without asking inspect on every request."""

from __future__ import annotations

import functools

import flask.app

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


def test_requests_still_reach_their_hooks_and_views(client, admin_key):
    resp = client.get("/v1/clients", headers=bearer(admin_key))
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"  # an after_request hook ran
    assert resp.headers["X-Request-Id"]  # and observe's
