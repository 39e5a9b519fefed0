"""S3 as folders: list, find, the id_bucket= folders of a table, markers and uploads.

Locations are `s3://bucket/key` strings, as in Settings. A location given as a
folder is listed as `key/`, so `.../IBE_01` never matches `.../IBE_01_A`.
Every call goes through `AwsClients` (errors translated there), and every
listing is paginated: S3 returns at most 1,000 keys a call.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from ..errors import FlywheelError
from ..lake import BUCKET_DIR
from .errors import AwsNotFound

MAX_PUT_BYTES = 5 * 1024**3  # one PutObject uploads at most 5 GB (S3 API reference, PutObject)
_URL = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(.*))?")


@dataclass(frozen=True)
class S3Object:
    url: str
    size: int
    modified: datetime | None = None  # LastModified, when listed

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


def split_url(url: str) -> tuple[str, str]:
    """'s3://bucket/a/b' -> ('bucket', 'a/b')."""
    match = _URL.fullmatch(url)
    if not match:
        raise FlywheelError(f"{url!r} is not an s3://bucket/key location", path=url)
    return match.group(1), match.group(2) or ""


def folder_key(url: str) -> tuple[str, str]:
    """Bucket and key prefix of a folder location: '' for the bucket, else ending in '/'."""
    bucket, key = split_url(url)
    key = key.strip("/")
    return bucket, (key + "/" if key else "")


def list_objects(aws, folder: str, recursive: bool = True) -> Iterator[S3Object]:
    """Every object under a folder (only its direct files when not `recursive`)."""
    bucket, prefix = folder_key(folder)
    params = {"Bucket": bucket, "Prefix": prefix}
    if not recursive:
        params["Delimiter"] = "/"
    for page in aws.pages("s3", "list_objects_v2", where={"path": folder}, **params):
        for item in page.get("Contents", []):
            yield S3Object(f"s3://{bucket}/{item['Key']}", item["Size"], item.get("LastModified"))


def find(aws, folder: str, suffix: str = "", recursive: bool = True) -> list[S3Object]:
    """Objects under a folder whose name ends with `suffix`, sorted by location."""
    return sorted((o for o in list_objects(aws, folder, recursive) if o.name.endswith(suffix)),
                  key=lambda o: o.url)


def list_folders(aws, folder: str) -> list[str]:
    """The sub-folders directly under a folder, as `s3://bucket/prefix/name` (no trailing /)."""
    bucket, prefix = folder_key(folder)
    found = []
    for page in aws.pages("s3", "list_objects_v2", where={"path": folder},
                          Bucket=bucket, Prefix=prefix, Delimiter="/"):
        found += [f"s3://{bucket}/{p['Prefix'].rstrip('/')}" for p in page.get("CommonPrefixes", [])]
    return sorted(found)


def bucket_prefixes(aws, location: str) -> dict[int, str]:
    """id_bucket -> folder location, for every `id_bucket=<n>/` folder of a table location."""
    found = {}
    for url in list_folders(aws, location):
        match = BUCKET_DIR.fullmatch(url.rsplit("/", 1)[-1])
        if match:
            found[int(match.group(1))] = url
    return dict(sorted(found.items()))


def write_json(aws, url: str, data: dict) -> None:
    """A small JSON object (a marker or a report), written in one PUT, so readers see all or nothing."""
    bucket, key = split_url(url)
    body = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
    aws.call("s3", "put_object", where={"path": url}, Bucket=bucket, Key=key, Body=body,
             ContentType="application/json")


def read_object(aws, url: str) -> tuple[bytes, dict] | None:
    """The content of the object at `url` and GetObject's other answers (metadata, lock), or None."""
    bucket, key = split_url(url)
    try:
        response = aws.call("s3", "get_object", where={"path": url}, Bucket=bucket, Key=key)
    except AwsNotFound:
        return None
    with aws.boundary("s3", "GetObject", path=url):  # the body streams: reading can fail too
        return response.pop("Body").read(), response


def read_bytes(aws, url: str) -> bytes | None:
    """The content of the object at `url`, or None when there is none."""
    found = read_object(aws, url)
    return None if found is None else found[0]


def read_json(aws, url: str) -> dict | None:
    """The JSON object at `url`, or None when there is none."""
    raw = read_bytes(aws, url)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise FlywheelError(f"{url} is not valid JSON: {err}", path=url) from err


def upload_file(aws, path: str | Path, url: str, content_type: str | None = None,
                lock_args: dict | None = None) -> S3Object:
    """Upload a local file to `url`: multipart when large, or in one PutObject into a locked bucket.

    `lock_args` (not None: the bucket has Object Lock) are PutObject's Object Lock parameters, {}
    when the bucket's default rule locks. The botocore s3 model says "The Content-MD5 or
    x-amz-sdk-checksum-algorithm header is required for any request to upload an object with a
    retention period configured using Amazon S3 Object Lock" (PutObject), and asks UploadPart for
    Content-MD5 "if object lock parameters are specified", which the managed transfer does not send
    (and moto 5.2.5 drops the lock of a multipart upload). So a locked upload is one PutObject (up to
    5 GB, far above any run record's file) with a SHA-256 checksum, whatever the client's checksum setting.
    """
    path = Path(path)
    bucket, key = split_url(url)
    if not key or key.endswith("/"):
        raise FlywheelError(f"{url!r} names a folder, not an object to upload {path.name} to", path=url)
    extra = {"ContentType": content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"}
    config = None
    if lock_args is not None:
        extra |= lock_args | {"ChecksumAlgorithm": "SHA256"}
        config = TransferConfig(multipart_threshold=MAX_PUT_BYTES)
    with aws.boundary("s3", "PutObject", path=url):
        aws.client("s3").upload_file(str(path), bucket, key, ExtraArgs=extra, Config=config)
    return S3Object(url, path.stat().st_size)


def delete_folder(aws, folder: str) -> int:
    """Delete every object under a folder, 1,000 a call; returns how many."""
    bucket, _ = split_url(folder)
    keys = [split_url(o.url)[1] for o in list_objects(aws, folder)]
    for start in range(0, len(keys), 1000):
        response = aws.call("s3", "delete_objects", where={"path": folder}, Bucket=bucket,
                            Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})
        if response.get("Errors"):
            first = response["Errors"][0]
            raise FlywheelError(f"could not delete {first.get('Key')} under {folder}: {first.get('Message')}",
                               path=folder)
    return len(keys)
