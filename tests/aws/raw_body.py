"""A response body botocore can stream, for before-send hooks that answer in AWS's place."""

from __future__ import annotations


class RawBody:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body
