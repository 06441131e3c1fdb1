"""The log as C2SP tlog-tiles, checked by a verifier written here from the specs.

Nothing of the project's Merkle, note or tiles code is used to *check*: the
verifier below follows c2sp.org/tlog-tiles (paths, tile contents, partial
tiles, entry bundles), RFC 6962 section 2.1 (hashing) and c2sp.org/signed-note
(the Ed25519 checkpoint signature), with hashlib and PyNaCl only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from nacl.signing import VerifyKey

from audit.events import AuditEvent
from audit.sink import insert_queued
from audit.tiles import encode_index, parse_path
from piivault.db import utcnow

W = 256


# -- an independent verifier -----------------------------------------------------------------
def spec_index(n: int) -> str:
    """tlog-tiles: zero-padded 3-digit path elements, all but the last beginning with x."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def spec_path(level: int | str, n: int, width: int | None = None) -> str:
    return f"tile/{level}/{spec_index(n)}" + ("" if width is None else f".p/{width}")


def rfc6962_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def rfc6962_mth(leaves: list[bytes]) -> bytes:
    """MTH over leaf *hashes* (RFC 6962 2.1): split at the largest power of two below n."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc6962_mth(leaves[:k]) + rfc6962_mth(leaves[k:])).digest()


def open_signed_note(note: str, name: str, public_key: bytes) -> list[str]:
    """signed-note: body, blank line, signature lines "— name base64(keyid||sig)"; key id per the spec."""
    body, _, signatures = note.partition("\n\n")
    body += "\n"
    key_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        signer, blob = line[2:].split(" ")
        raw = base64.b64decode(blob)
        if signer == name and raw[:4] == key_id:
            VerifyKey(public_key).verify(body.encode(), raw[4:])  # raises if forged
            return body.splitlines()
    raise AssertionError("no signature by the log's key")


def spec_verify(directory: Path, origin: str, public_key: bytes) -> list[bytes]:
    """Check the whole published tree; return its entries."""
    lines = open_signed_note((directory / "checkpoint").read_text("utf-8"), origin, public_key)
    assert lines[0] == origin
    size, root = int(lines[1]), base64.b64decode(lines[2])
    entries: list[bytes] = []
    leaves: list[bytes] = []
    for n in range((size + W - 1) // W):
        width = min(W, size - n * W)
        partial = None if width == W else width
        tile = (directory / spec_path(0, n, partial)).read_bytes()
        assert len(tile) == 32 * width
        bundle = (directory / spec_path("entries", n, partial)).read_bytes()
        got, at = [], 0
        while at < len(bundle):
            length = int.from_bytes(bundle[at : at + 2], "big")
            got.append(bundle[at + 2 : at + 2 + length])
            at += 2 + length
        assert at == len(bundle) and len(got) == width
        assert b"".join(rfc6962_leaf(e) for e in got) == tile
        entries += got
        leaves += [tile[i : i + 32] for i in range(0, len(tile), 32)]
    assert rfc6962_mth(leaves) == root
    level = 1
    while size // W**level:
        count = size // W**level  # hashes at this level; the last tile partial if count % 256
        for n in range((count + W - 1) // W):
            width = min(W, count - n * W)
            tile = (directory / spec_path(level, n, None if width == W else width)).read_bytes()
            for i in range(width):
                start = (n * W + i) * W**level
                assert tile[32 * i : 32 * i + 32] == rfc6962_mth(leaves[start : start + W**level])
        level += 1
    return entries


# -- the tests --------------------------------------------------------------------------------
def _bulk(container, count: int, start: int = 0) -> None:
    events = [
        AuditEvent(action="detokenize", actor="crm", subject_id=f"s-{i % 7}", request_id=f"t{i}")
        for i in range(start, start + count)
    ]
    now = utcnow()
    rows = container.audit_sink.prepare(events, now)
    with container.engine.begin() as conn:
        insert_queued(conn, now, rows)


@pytest.mark.parametrize("n", [0, 7, 999, 1000, 1234067, 256**3 + 5])
def test_tile_index_paths_follow_the_spec(n):
    assert encode_index(n) == spec_index(n)
    for level in (0, 3, "entries"):
        for width in (None, 1, 255):
            key = parse_path(spec_path(level, n, width))
            assert key is not None and (key.level, key.index, key.width) == (level, n, width)
    assert spec_index(1234067) == "x001/x234/067"


@pytest.mark.parametrize(
    "path",
    [
        "tile/01/000",
        "tile/64/000",
        "tile/0/1",
        "tile/0/x1/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/07",
        "tile/0/000/x001",
        "tile/entries/../000",
        "tile/0/000.p/",
        "checkpoint",
    ],
)
def test_tile_paths_outside_the_spec_are_refused(path):
    assert parse_path(path) is None


def test_published_tiles_verify_with_an_implementation_of_the_spec(container, audit_log, tmp_path):
    _bulk(container, 600)
    result = audit_log.publish_tiles(tmp_path)  # cuts a checkpoint at 600 first
    assert result.size == 600
    entries = spec_verify(tmp_path, audit_log.origin, audit_log.public_key_bytes())
    assert [json.loads(e)["request_id"] for e in entries] == [f"t{i}" for i in range(600)]
    assert [json.loads(e)["seq"] for e in entries] == list(range(600))
    # 600 = 2 full level-0 tiles + a partial one of 88, and a partial level-1 tile of 2.
    assert (tmp_path / "tile/0/002.p/88").exists() and (tmp_path / "tile/1/000.p/2").exists()
    assert not (tmp_path / "tile/1/000").exists()


def test_publishing_grows_the_tiles_and_keeps_earlier_partial_tiles(container, audit_log, tmp_path):
    _bulk(container, 100)
    audit_log.publish_tiles(tmp_path)
    first = (tmp_path / "tile/0/000.p/100").read_bytes()
    _bulk(container, 200, start=100)
    result = audit_log.publish_tiles(tmp_path)
    # Full tile and bundle 0, partial tile and bundle 1 (width 44), partial level-1 tile (width 1).
    assert result.size == 300 and result.written == 5 and (tmp_path / "tile/1/000.p/1").exists()
    assert (tmp_path / "tile/0/000.p/100").read_bytes() == first  # a published size stays provable
    assert (tmp_path / "tile/0/000").read_bytes()[: len(first)] == first
    assert audit_log.publish_tiles(tmp_path, cut=False).written == 0  # up to date
    spec_verify(tmp_path, audit_log.origin, audit_log.public_key_bytes())


def test_the_sequencer_keeps_the_configured_directory_up_to_date(container, audit_log, tmp_path):
    audit_log.sequencer.checkpoints.tiles_dir = tmp_path / "tiles"
    audit_log.sequencer.checkpoints.every = 50
    _bulk(container, 120)
    audit_log.sequencer.drain()
    published = (tmp_path / "tiles" / "checkpoint").read_text("utf-8")
    assert published == audit_log.latest_checkpoint().note and published.split("\n")[1] == "120"
    spec_verify(tmp_path / "tiles", audit_log.origin, audit_log.public_key_bytes())


def test_a_forged_checkpoint_in_the_directory_fails_the_independent_check(container, audit_log, tmp_path):
    _bulk(container, 10)
    audit_log.publish_tiles(tmp_path)
    note = (tmp_path / "checkpoint").read_text("utf-8")
    lines = note.split("\n")
    lines[1] = "9"
    (tmp_path / "checkpoint").write_text("\n".join(lines), "utf-8")
    with pytest.raises(Exception, match="[Ss]ignature"):
        spec_verify(tmp_path, audit_log.origin, audit_log.public_key_bytes())
