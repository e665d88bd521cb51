"""Ids and keys: the seed's shapes, from the CSPRNG, every base62 character about equally likely."""

from __future__ import annotations

import re
from collections import Counter

from paygate.infra.crypto import BASE62, new_api_key, new_id, random_base62


def test_ids_and_keys_have_the_seeds_shapes():
    assert re.fullmatch(r"pay_[A-Za-z0-9]{16}", new_id("pay"))
    assert re.fullmatch(r"rfnd_[A-Za-z0-9]{24}", new_id("rfnd", 24))
    assert re.fullmatch(r"key_test_[A-Za-z0-9]{16}", new_api_key())
    assert len({new_id("pay") for _ in range(10_000)}) == 10_000


def test_every_character_is_about_equally_likely_in_every_position():
    samples = [random_base62(16) for _ in range(31_000)]
    for position in (0, 7, 15):  # the last digits come from the top of the random number: no short tail
        counts = Counter(s[position] for s in samples)
        assert set(counts) == set(BASE62)
        assert max(counts.values()) < 1.6 * min(counts.values()), counts  # ~500 each (sd ~22): only real bias fails
