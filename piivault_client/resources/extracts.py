"""Anonymized extracts (``/v1/extracts``): submit a spec, wait for the job, download, re-identify.

An extract is a job: :meth:`Extracts.submit` answers at once (state
``queued``), :meth:`Extracts.wait` polls until it is ``succeeded`` or failed,
and :meth:`Extracts.download` fetches a file, checking it against the
SHA-256 the server sends (``Repr-Digest``).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from piivault_client.errors import IntegrityError
from piivault_client.resources._base import Resource, seg
from piivault_client.transport import Transport

RUNNING = frozenset({"queued", "running"})
CHUNK = 1 << 16


class Extracts(Resource):
    def __init__(self, transport: Transport, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(transport)
        self._clock = clock

    def submit(self, spec: Mapping[str, Any]) -> dict:
        """Queue an extract (role analyst): the job, state ``queued``.

        Raises ValidationFailed whose ``errors["json"]`` names every problem of
        the spec by key path. Not retried after a lost answer (it may be queued).
        """
        return self._t.json("POST", "/v1/extracts", json=dict(spec), idempotent=False)

    def get(self, extract_id: str) -> dict:
        """The job: state, progress ``{percent, phase}``, result, files (analyst: own; dpo: any)."""
        return self._t.json("GET", f"/v1/extracts/{seg(extract_id)}")

    def list(self, *, state: str | None = None, limit: int = 50) -> list[dict]:
        """The newest extracts: an analyst's own, or every one for the DPO."""
        return self._t.json("GET", "/v1/extracts", params={"state": state, "limit": limit})["extracts"]

    def wait(self, extract_id: str, *, timeout: float = 600.0, interval: float = 1.0) -> dict:
        """Poll until the job is no longer queued or running; returns it (check ``state``).

        Raises TimeoutError after ``timeout`` seconds, with the job still running.
        """
        deadline = self._clock() + timeout
        while True:
            job = self.get(extract_id)
            if job["state"] not in RUNNING:
                return job
            if self._clock() >= deadline:
                raise TimeoutError(f"extract {extract_id} still {job['state']} after {timeout:g} s")
            self._t.sleep(interval)

    def download(
        self, extract_id: str, name: str, to: Path | str | None = None, *, lang: str | None = None
    ) -> bytes | Path:
        """One file of a finished extract (``extract.csv``, ``extract.parquet``, ``report.html``...);
        ``lang`` (``zh-CN``, ``en``) picks report.html's language instead of the spec's.

        Written to ``to`` if given (returns the path), else returned as bytes.
        Raises NotFound, Conflict (not finished), Gone (expired), and
        :class:`IntegrityError` if the bytes do not match the server's SHA-256;
        ``to`` only ever holds a whole, checked file.
        """
        params = {"lang": lang} if lang else None
        response = self._t.send(
            "GET", f"/v1/extracts/{seg(extract_id)}/files/{seg(name)}", params=params, stream=True
        )
        with response:
            expected = _repr_digest(response.headers.get("Repr-Digest"))
            if to is None:
                _check(response.content, expected, name)
                return response.content
            path = Path(to)
            part = path.with_name(path.name + ".part")
            try:
                digest = hashlib.sha256()
                with part.open("wb") as f:
                    for chunk in response.iter_content(CHUNK):
                        digest.update(chunk)
                        f.write(chunk)
                _check(digest, expected, name)
                part.replace(path)
            finally:
                part.unlink(missing_ok=True)
            return path

    def reidentify(self, extract_id: str, column: str, pseudonym: str, reason: str) -> dict:
        """The subjects behind one pseudonym of this extract, with the reason kept in the audit log.

        Role dpo, on a key naming its person, holding an ``extract.reidentify``
        grant for this extract that another DPO approved (four eyes). Returns
        ``{extract_id, column, pseudonym, subject_ids}``. Raises Forbidden
        (``approval_required``: ``problem["approval_id"]`` names the request to
        approve), NotFound, Gone (expired: its pseudonym key was destroyed), ValidationFailed.
        """
        return self._t.json(
            "POST",
            f"/v1/extracts/{seg(extract_id)}/reidentify",
            json={"column": column, "pseudonym": pseudonym, "reason": reason},
            idempotent=False,  # each re-identification is audited once
        )


def _check(received: bytes | Any, expected: bytes | None, name: str) -> None:
    """Raise IntegrityError unless ``received`` (bytes, or a running sha256) has the expected digest."""
    digest = hashlib.sha256(received).digest() if isinstance(received, bytes) else received.digest()
    if expected is not None and digest != expected:
        raise IntegrityError(f"{name} does not match the SHA-256 the server sent")


def _repr_digest(header: str | None) -> bytes | None:
    """The sha-256 of an RFC 9530 ``Repr-Digest`` header, or None if it has none."""
    for member in (header or "").split(","):
        algorithm, _, value = member.strip().partition("=")
        if algorithm.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            return base64.b64decode(value[1:-1])
    return None
