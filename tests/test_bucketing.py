import random

import pytest
import xxhash

from flywheel_lib.bucketing import id_bucket, id_buckets, spark_xxhash64

# pmod(xxhash64(key), 256) as Spark computes it (DOMAIN.md, "Bucketing").
SPARK_VECTORS = [("434439589175", 32), ("0IgxL", 98), ("KLzd", 125), ("é", 180), ("", 4)]


@pytest.mark.parametrize(("key", "bucket"), SPARK_VECTORS)
def test_id_bucket_matches_spark(key, bucket):
    assert id_bucket(key) == bucket


def test_id_buckets_matches_spark():
    keys = [k for k, _ in SPARK_VECTORS]
    assert id_buckets(keys) == [b for _, b in SPARK_VECTORS]


def test_null_key_lands_in_bucket_42():
    assert spark_xxhash64(None) == 42
    assert id_bucket(None) == 42
    assert id_buckets([None, "KLzd", None]) == [42, 125, 42]
    # pmod(42, n) for other bucket counts
    assert id_bucket(None, 10) == 2
    assert id_buckets([None], 10) == [2]


def _signed(key: str) -> int:
    """XXH64 (seed 42) of the UTF-8 bytes read as a big-endian signed 64-bit integer."""
    return int.from_bytes(xxhash.xxh64(key.encode("utf-8"), seed=42).digest(), "big", signed=True)


def test_spark_xxhash64_is_the_signed_64_bit_reading():
    keys = [f"key-{i}" for i in range(200)] + [k for k, _ in SPARK_VECTORS]
    values = [spark_xxhash64(k) for k in keys]
    assert values == [_signed(k) for k in keys]
    assert all(-(1 << 63) <= v < 1 << 63 for v in values)
    # both halves of the range occur, so the sign handling is exercised
    assert any(v < 0 for v in values) and any(v > 0 for v in values)


def test_bucket_count_not_dividing_2_64_uses_the_signed_value():
    """pmod of the signed hash: for negative hashes it differs from the unsigned modulo."""
    negative = [k for k in (f"k{i}" for i in range(500)) if spark_xxhash64(k) < 0]
    unsigned = {k: xxhash.xxh64_intdigest(k.encode(), seed=42) for k in negative}
    assert [id_bucket(k, 200) for k in negative] == [spark_xxhash64(k) % 200 for k in negative]
    assert any(id_bucket(k, 200) != unsigned[k] % 200 for k in negative)
    assert all(0 <= id_bucket(k, 200) < 200 for k in negative)


def _random_keys(count: int, seed: int) -> list:
    rng = random.Random(seed)
    alphabet = "0123456789abcdefXYZ_-é漢字ßü \u0000😀"
    keys = []
    for _ in range(count):
        length = rng.choice([0, 1, 5, 12, 31, 32, 33, 64, 200])
        keys.append("".join(rng.choice(alphabet) for _ in range(length)))
    return keys + [None, ""]


@pytest.mark.parametrize("buckets", [256, 200, 7])
def test_id_buckets_equals_id_bucket_over_many_keys(buckets):
    keys = _random_keys(3000, seed=buckets)
    result = id_buckets(keys, buckets)
    assert result == [id_bucket(k, buckets) for k in keys]
    assert set(result) <= set(range(buckets))
    if buckets == 256:  # 3,000 random keys leave no bucket empty
        assert set(result) == set(range(256))
