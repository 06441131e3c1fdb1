"""``/v1/tokenize``, ``/v1/detokenize``, ``/v1/tokens/lookup``, ``/v1/anonymize/text``.

Any number of items or tokens, sent 1,000 per request; results come back as
one list in input order. Each tokenize batch carries its own
``Idempotency-Key``, kept across its retries, so a retry after a lost answer
returns the first result instead of tokenizing twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from piivault_client.errors import ItemError, ItemsFailed
from piivault_client.resources._base import Resource, batch_errors, batches, body

MAX_BATCH = 1_000


class Tokens(Resource):
    def __init__(self, transport: Any, batch_size: int = MAX_BATCH) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be 1 to {MAX_BATCH}")
        super().__init__(transport)
        self.batch_size = batch_size

    def tokenize(
        self, items: Iterable[Mapping[str, Any]], *, purpose: str | None = None, strict: bool = False
    ) -> list[dict]:
        """``{token}`` or ``{error: {rule, message}}`` per item ``{field_type, value, subject_id?, kind?}``.

        Role service. ``purpose`` (optional, on the key) is why the values are
        collected: a restricted subject takes new data only for a purpose one of
        its holds allows (else the item's error rule is ``restricted``). With
        ``strict``, raises :class:`ItemsFailed` if any item was refused (the
        others are stored: ``results`` has their tokens).
        """
        declared = {} if purpose is None else {"purpose": purpose}
        results: list[dict] = []
        for start, batch in batches(list(items), self.batch_size):
            with batch_errors(start, results):
                answer = self._t.json(
                    "POST",
                    "/v1/tokenize",
                    json={"items": [dict(item) for item in batch], **declared},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                    idempotent=True,
                )
            results.extend(answer["items"])
        if strict:
            _raise_refused(results, lambda error, _: (error["rule"], error.get("message")))
        return results

    def detokenize(
        self, purpose: str, tokens: Iterable[str], reveal: str = "plain", *, strict: bool = False
    ) -> list[dict]:
        """``{value}``, ``{masked}`` or ``{error, reason}`` per token, in order, under ``purpose``.

        Roles service (plain or masked) and dpo (masked). With ``strict``, raises
        :class:`ItemsFailed` if any token was refused (not_found, denied, restricted, erased).
        """
        results: list[dict] = []
        for start, batch in batches(list(tokens), self.batch_size):
            with batch_errors(start, results):
                answer = self._t.json(
                    "POST",
                    "/v1/detokenize",
                    json={"purpose": purpose, "tokens": list(batch), "reveal": reveal},
                    idempotent=True,
                )
            results.extend(answer["items"])
        if strict:
            _raise_refused(results, lambda error, result: (error, result.get("reason")))
        return results

    def lookup(self, purpose: str, field_type: str, value: str) -> list[dict]:
        """The tokens holding this value as far as ``purpose`` allows: ``[{token, kind, subject_id}]``.

        Role service. Decided as a detokenize is: a purpose not on the key or not
        covering the field type raises Forbidden; restricted subjects and those
        without the consent the purpose needs are left out.
        """
        answer = self._t.json(
            "POST",
            "/v1/tokens/lookup",
            json={"purpose": purpose, "field_type": field_type, "value": value},
            idempotent=True,
        )
        return answer["tokens"]

    def anonymize_text(self, text: str, operator: str, language: str = "auto") -> dict:
        """``{text, entities}``: personal data found in ``text``, redacted, masked, replaced or tokenized.

        Roles service, analyst and dpo; ``operator`` tokenize (the values stored
        in the vault) is for service only. A tokenize whose answer was lost may
        have stored tokens, so it is not retried.
        """
        return self._t.json(
            "POST",
            "/v1/anonymize/text",
            json=body(text=text, operator=operator, language=language),
            idempotent=operator != "tokenize",
        )


def _raise_refused(results: list[dict], code_and_message: Callable[..., tuple[str, str | None]]) -> None:
    refused = [
        ItemError(index, *code_and_message(result["error"], result))
        for index, result in enumerate(results)
        if "error" in result
    ]
    if refused:
        raise ItemsFailed(refused, results)
