"""Parquet footers on S3, read with ranged GETs: schemas, row counts, null counts.

A footer is all the catalog and the data monitor need from a file (its schema,
its rows, each column's null count), so nothing reads the data itself. Most
footers arrive in one GET of the file's last 64 KiB; a wider one costs a
second. Files are read a few dozen at a time.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pyarrow.parquet as pq

from .s3 import S3Object, split_url

TAIL_BYTES = 64 * 1024
THREADS = 32


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable S3 object whose reads are ranged GETs (the tail is fetched once)."""

    def __init__(self, aws, url: str, size: int):
        self.aws, self.url, self.size = aws, url, size
        self.bucket, self.key = split_url(url)
        self.position = 0
        tail_start = max(0, size - TAIL_BYTES)
        self._tail = (tail_start, self._get(tail_start, size - 1) if size else b"")

    def _get(self, first: int, last: int) -> bytes:
        response = self.aws.call("s3", "get_object", where={"path": self.url}, Bucket=self.bucket,
                                 Key=self.key, Range=f"bytes={first}-{last}")
        with self.aws.boundary("s3", "GetObject", path=self.url):
            return response["Body"].read()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        end = min(self.size, self.position + len(buffer))
        if end <= self.position:
            return 0
        start_of_tail, tail = self._tail
        if self.position >= start_of_tail:
            data = tail[self.position - start_of_tail:end - start_of_tail]
        else:
            data = self._get(self.position, end - 1)
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def metadata(aws, obj: S3Object) -> pq.FileMetaData:
    with S3RangeFile(aws, obj.url, obj.size) as handle:
        return pq.ParquetFile(handle).metadata


def schema(aws, obj: S3Object):
    """The Arrow schema of one Parquet object."""
    return metadata(aws, obj).schema.to_arrow_schema()


def metadata_many(aws, objects: list[S3Object]) -> list[pq.FileMetaData]:
    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda o: metadata(aws, o), objects))


def rows(aws, objects: list[S3Object]) -> int:
    return sum(m.num_rows for m in metadata_many(aws, objects))
