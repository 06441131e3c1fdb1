"""The client: one transport, one object per API resource.

from piivault_client import PiivaultClient

pv = PiivaultClient("https://piivault.bank.internal", api_key)
tokens = pv.tokenize([{"field_type": "cn_mobile", "value": "13812345678", "subject_id": sid}])
pv.consents.grant(sid, "marketing", "app", evidence="ref:form-2291")
job = pv.extracts.wait(pv.extracts.submit(spec)["extract_id"])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from piivault_client.resources.approvals import Approvals, BreakGlass, Grants
from piivault_client.resources.audit import Audit
from piivault_client.resources.clients import Clients
from piivault_client.resources.consents import Consents
from piivault_client.resources.dsr import DataSubjectRequests
from piivault_client.resources.extracts import Extracts
from piivault_client.resources.purposes import Purposes
from piivault_client.resources.subjects import Attributes, Holds, Subjects
from piivault_client.resources.tokens import MAX_BATCH, Tokens
from piivault_client.transport import Transport


class PiivaultClient:
    """The piivault API with one key. What a key may call depends on its role (service, dpo...).

    ``batch_size``: items per tokenize or detokenize request (at most 1,000).
    ``options`` go to :class:`~piivault_client.transport.Transport`: ``session``,
    ``timeout``, ``max_retries`` (bounds the retries of a 429, a 503 or a lost
    connection), ``backoff``, ``max_backoff`` and ``sleep`` (waits between
    them; a test passes its own).
    """

    def __init__(self, base_url: str, api_key: str, *, batch_size: int = MAX_BATCH, **options: Any) -> None:
        self.transport = Transport(base_url, api_key, **options)
        self.tokens = Tokens(self.transport, batch_size)
        self.subjects = Subjects(self.transport)
        self.holds = Holds(self.transport)
        self.attributes = Attributes(self.transport)
        self.consents = Consents(self.transport)
        self.purposes = Purposes(self.transport)
        self.dsr = DataSubjectRequests(self.transport)
        self.extracts = Extracts(self.transport)
        self.audit = Audit(self.transport)
        self.clients = Clients(self.transport)
        self.approvals = Approvals(self.transport)
        self.grants = Grants(self.transport)
        self.break_glass = BreakGlass(self.transport)

    def __repr__(self) -> str:
        return f"PiivaultClient({self.transport.base_url!r})"  # never the key

    # The calls a calling system makes most, at the top.
    def tokenize(
        self, items: Iterable[Mapping[str, Any]], *, purpose: str | None = None, strict: bool = False
    ) -> list[dict]:
        """See :meth:`Tokens.tokenize`."""
        return self.tokens.tokenize(items, purpose=purpose, strict=strict)

    def detokenize(
        self, purpose: str, tokens: Iterable[str], reveal: str = "plain", *, strict: bool = False
    ) -> list[dict]:
        """See :meth:`Tokens.detokenize`."""
        return self.tokens.detokenize(purpose, tokens, reveal, strict=strict)

    def lookup(self, purpose: str, field_type: str, value: str) -> list[dict]:
        """See :meth:`Tokens.lookup`."""
        return self.tokens.lookup(purpose, field_type, value)
