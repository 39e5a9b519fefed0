"""Spark's bucket function, reproduced exactly.

Spark computes `pmod(xxhash64(customer_user_id), 256)`: XXH64 of the key's
UTF-8 bytes with seed 42, read as a signed 64-bit integer, then a modulo that
is never negative. Spark's xxhash64 of NULL is the seed itself, so a null key
lands in bucket 42. The local engine and the Glue jobs must agree on this to
the row, so it lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import xxhash

BUCKETS = 256
SEED = 42
_NULL_BUCKET = SEED % BUCKETS


def spark_xxhash64(key: str | None) -> int:
    """Spark's `xxhash64(key)` for a string column: a signed 64-bit integer."""
    if key is None:
        return SEED
    unsigned = xxhash.xxh64_intdigest(key.encode("utf-8"), seed=SEED)
    return unsigned - (1 << 64) if unsigned >= 1 << 63 else unsigned


def id_bucket(key: str | None, buckets: int = BUCKETS) -> int:
    """Spark's `pmod(xxhash64(key), buckets)`."""
    if key is None:
        return SEED % buckets
    # A non-negative modulo of the signed value equals the same modulo of the
    # unsigned one only when buckets divides 2**64; 256 does, but stay general.
    return spark_xxhash64(key) % buckets


def id_buckets(keys: Iterable[str | None], buckets: int = BUCKETS) -> list[int]:
    """`id_bucket` over many keys (the hot path of the split)."""
    digest = xxhash.xxh64_intdigest
    if buckets == BUCKETS:
        # 256 divides 2**64, so the low byte of the unsigned hash is the bucket.
        return [
            _NULL_BUCKET if k is None else digest(k.encode("utf-8"), seed=SEED) & 0xFF
            for k in keys
        ]
    return [id_bucket(k, buckets) for k in keys]
