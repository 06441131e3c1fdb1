"""The pieces a held-out note is written in, and assembling them into a labelled row.

A note is a list of parts: plain text, or an ``Ent``, a value labelled with its type.
``assemble`` joins them and records each labelled value's code point span.
"""

from __future__ import annotations

from typing import Any


class Ent:
    """A labelled piece of a note."""

    __slots__ = ("value", "type", "typo")

    def __init__(self, value: str, type_: str, typo: bool = False) -> None:
        self.value = value
        self.type = type_
        self.typo = typo


Part = str | Ent


def assemble(parts: list[Part], lang: str) -> dict[str, Any]:
    text: list[str] = []
    ents: list[dict[str, Any]] = []
    pos = 0
    for p in parts:
        if isinstance(p, Ent):
            e: dict[str, Any] = {"start": pos, "end": pos + len(p.value), "type": p.type}
            if p.typo:
                e["typo"] = True
            ents.append(e)
            text.append(p.value)
            pos += len(p.value)
        else:
            text.append(p)
            pos += len(p)
    return {"text": "".join(text), "lang": lang, "entities": ents}
