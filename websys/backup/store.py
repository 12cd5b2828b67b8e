"""Backups in an S3-compatible bucket: keys, manifests, a bounded-memory multipart writer, a streaming reader.

Layout: `<prefix>/<database>/<UTC timestamp>.dump` holds the `pg_dump --format=custom` stream and
`<same key>.manifest.json` describes it (size, sha256, row counts, versions). The manifest is
written only after the multipart upload completed, so it is also the backup's commit marker: a dump
without a manifest (a crashed run) is never listed or restored, and lifecycle rules expire both.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import boto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from websys.backup.errors import EXIT_BAD_INPUT, BackupError

MANIFEST_SUFFIX = ".manifest.json"
DUMP_SUFFIX = ".dump"
MANIFEST_FORMAT = "websys-backup/1"
MIB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Manifest:
    key: str
    database: str
    created: str  # ISO 8601, UTC
    size: int
    sha256: str
    encoding: str
    server_version: str
    pg_dump_version: str
    duration_seconds: float
    row_counts: dict[str, int] = field(default_factory=dict)
    format: str = MANIFEST_FORMAT

    def dumps(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def loads(cls, data: bytes, key: str) -> Manifest:
        try:
            raw = json.loads(data)
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            return cls(**raw)
        except (ValueError, TypeError) as error:
            raise BackupError(f"{key}{MANIFEST_SUFFIX}: unreadable manifest: {error}") from None


@dataclass(frozen=True)
class Encryption:
    """Server-side encryption requested on every upload (the bucket policy refuses uploads without)."""

    algorithm: str | None = None  # "aws:kms" or "AES256"
    kms_key_id: str | None = None

    def request_arguments(self) -> dict[str, str]:
        arguments: dict[str, str] = {}
        if self.algorithm:
            arguments["ServerSideEncryption"] = self.algorithm
        if self.kms_key_id:
            arguments["SSEKMSKeyId"] = self.kms_key_id
        return arguments


def timestamp_key(prefix: str, database: str, moment: datetime) -> str:
    return f"{database_prefix(prefix, database)}{moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)}{DUMP_SUFFIX}"


def database_prefix(prefix: str, database: str) -> str:
    return f"{prefix.strip('/')}/{database}/" if prefix.strip("/") else f"{database}/"


def _error_code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class BackupStore:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        encryption: Encryption | None = None,
    ) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.encryption = encryption or Encryption()
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": "path"} if endpoint_url else {},
            connect_timeout=10,
            read_timeout=120,
        )
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url, region_name=region, config=config)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _call(self, what: str, operation: Callable[..., Any], **arguments: Any) -> Any:
        """One S3 call, its failure as one line (exit 2 for a missing bucket or bad credentials)."""
        try:
            return operation(Bucket=self.bucket, **arguments)
        except botocore.exceptions.ClientError as error:
            code = _error_code(error)
            bad_input = code in {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}
            message = error.response.get("Error", {}).get("Message") or code
            raise BackupError(f"{what}: {code}: {message}", EXIT_BAD_INPUT if bad_input else 1) from None
        except botocore.exceptions.BotoCoreError as error:
            raise BackupError(f"{what}: {error}", EXIT_BAD_INPUT) from None

    # Listing and manifests

    def list_backups(self, database: str | None = None) -> list[Manifest]:
        """Complete backups (those with a manifest), newest first."""
        prefix = database_prefix(self.prefix, database) if database else f"{self.prefix.strip('/')}/"
        paginator = self.client.get_paginator("list_objects_v2")
        keys: set[str] = set()
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.update(item["Key"] for item in page.get("Contents", []))
        except botocore.exceptions.ClientError as error:
            raise BackupError(f"s3://{self.bucket}/{prefix}: {_error_code(error)}", EXIT_BAD_INPUT) from None
        except botocore.exceptions.BotoCoreError as error:
            raise BackupError(f"s3://{self.bucket}/{prefix}: {error}", EXIT_BAD_INPUT) from None
        complete = sorted(
            (key for key in keys if key.endswith(DUMP_SUFFIX) and key + MANIFEST_SUFFIX in keys),
            key=lambda key: (key.rsplit("/", 1)[-1], key),
            reverse=True,
        )
        return [self.read_manifest(key) for key in complete]

    def read_manifest(self, key: str) -> Manifest:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key + MANIFEST_SUFFIX)
        except botocore.exceptions.ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404"}:
                raise BackupError(f"{self.url(key)}: no such backup", EXIT_BAD_INPUT) from None
            raise BackupError(f"{self.url(key)}: {_error_code(error)}", EXIT_BAD_INPUT) from None
        return Manifest.loads(response["Body"].read(), key)

    def write_manifest(self, manifest: Manifest) -> None:
        self._call(
            f"{self.url(manifest.key)}{MANIFEST_SUFFIX}",
            self.client.put_object,
            Key=manifest.key + MANIFEST_SUFFIX,
            Body=manifest.dumps(),
            ContentType="application/json",
            **self.encryption.request_arguments(),
        )

    # Streams

    def upload_stream(
        self,
        key: str,
        stream: IO[bytes],
        part_size: int,
        metadata: dict[str, str],
        on_progress: Callable[[int], None] = lambda n: None,
        before_complete: Callable[[], None] = lambda: None,
    ) -> tuple[int, str]:
        """Upload everything `stream` gives as one object; memory holds one part. Returns (size, sha256).

        `before_complete` runs when the stream has ended and may raise (the producer failed): any
        failure aborts the multipart upload, so no partial object is left behind.
        """
        upload = self._call(
            self.url(key),
            self.client.create_multipart_upload,
            Key=key,
            ContentType="application/octet-stream",
            Metadata=metadata,
            **self.encryption.request_arguments(),
        )
        upload_id = upload["UploadId"]
        digest = hashlib.sha256()
        size = 0
        parts: list[dict[str, Any]] = []
        buffer = bytearray(part_size)
        view = memoryview(buffer)
        try:
            while True:
                filled = _fill(stream, view)
                if filled == 0 and parts:
                    break
                if len(parts) >= MAX_PARTS:
                    raise BackupError(
                        f"{self.url(key)}: more than {MAX_PARTS} parts of {part_size // MIB} MiB: raise --part-size-mb"
                    )
                chunk = view[:filled]
                digest.update(chunk)
                size += filled
                response = self._call(
                    self.url(key),
                    self.client.upload_part,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=len(parts) + 1,
                    Body=_PartReader(chunk),  # read in place: no copy of the part
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": response["ETag"]})
                on_progress(filled)
                if filled < part_size:
                    break
            before_complete()
            self._call(
                self.url(key),
                self.client.complete_multipart_upload,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.abort(key, upload_id)
            raise
        return size, digest.hexdigest()

    def abort(self, key: str, upload_id: str) -> None:
        # If this fails too, the lifecycle rule aborts the incomplete upload after a few days.
        with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def iter_object(self, key: str, chunk_size: int = MIB) -> Iterator[bytes]:
        """The object's bytes in chunks, as they arrive."""
        response = self._call(self.url(key), self.client.get_object, Key=key)
        body = response["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            raise BackupError(f"{self.url(key)}: download failed: {error}") from None
        finally:
            body.close()


class _PartReader(io.RawIOBase):
    """A seekable, read-only file over a memoryview, so botocore streams a part without copying it."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view, self._position = view, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, min(len(self._view), base + offset))
        return self._position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), len(self._view) - self._position)
        buffer[:count] = self._view[self._position : self._position + count]
        self._position += count
        return count


def _fill(stream: IO[bytes], view: memoryview) -> int:
    """Read into `view` until it is full or the stream ends; the number of bytes read."""
    filled = 0
    while filled < len(view):
        count = stream.readinto(view[filled:])  # type: ignore[attr-defined]
        if not count:
            break
        filled += count
    return int(filled)
