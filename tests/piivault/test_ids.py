"""piivault.ids: the one source of random ids and tokens."""

from __future__ import annotations

import re

from piivault import ids


def test_new_id_is_the_prefix_and_120_random_bits_in_base32():
    made = {ids.new_id("dsr_") for _ in range(200)}
    assert len(made) == 200
    assert all(re.fullmatch(r"dsr_[a-z2-7]{24}", i) for i in made)


def test_random_string_draws_only_from_its_alphabet():
    drawn = ids.random_string("ab", 400)
    assert len(drawn) == 400 and set(drawn) == {"a", "b"}


def test_tokens_have_the_asked_length_and_differ():
    assert len(ids.random_bytes(32)) == 32 and ids.random_bytes(32) != ids.random_bytes(32)
    assert len(ids.hex_token(16)) == 32
    assert len(ids.urlsafe_token(32)) == 43  # 32 bytes in unpadded base64url
    assert {ids.randbelow(3) for _ in range(300)} == {0, 1, 2}
