"""Backups in an S3-compatible bucket: keys, signed manifests, a bounded-memory multipart writer, a reader.

Layout: `<prefix>/<database>/<UTC time to the microsecond>-<random>.dump` holds the
`pg_dump --format=custom` stream and `<same key>.manifest.json` describes it (size, sha256, row
counts, versions). Every run makes a key of its own (two runs in the same microsecond still differ
in 64 random bits), so a dump and its manifest always come from the same run. The manifest is
written only after the multipart upload completed: it is the backup's commit marker, and listings
are keyed on manifests, so a dump without one (a crashed run) is never listed or restored.

A manifest is signed: HMAC-SHA256 with the stack's manifest key (a generated secret that is not the
S3 credentials), over the canonical JSON of every other field. Before a backup is listed or
restored its signature is checked, and its `key` and `database` must name the place it lies in, so
a manifest planted, edited, or copied from another backup or database is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any

import boto3  # type: ignore[import-untyped]
import botocore.exceptions  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from websys.backup import signals
from websys.backup.errors import EXIT_BAD_INPUT, BackupError
from websys.backup.progress import log

MANIFEST_SUFFIX = ".manifest.json"
DUMP_SUFFIX = ".dump"
MANIFEST_FORMAT = "websys-backup/2"
MIB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts per multipart upload
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"  # fixed width: keys sort by time as strings
MIN_MANIFEST_KEY_BYTES = 16


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
    count_seconds: float = 0.0  # what the exact row counts cost (they run beside the dump)
    format: str = MANIFEST_FORMAT
    signature: str = ""  # HMAC-SHA256 of everything else, hex

    def _body(self) -> bytes:
        fields = asdict(self)
        del fields["signature"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def signed(self, manifest_key: bytes) -> Manifest:
        return replace(self, signature=hmac.new(manifest_key, self._body(), hashlib.sha256).hexdigest())

    def dumps(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def loads(cls, data: bytes, key: str, database: str, manifest_key: bytes, where: str) -> Manifest:
        """Parse and authenticate the manifest found at `<key>.manifest.json` under `database`."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            if raw.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"unknown format {raw.get('format')!r}")
            manifest = cls(**raw)
        except (ValueError, TypeError) as error:
            raise BackupError(f"{where}: unreadable manifest: {error}") from None
        expected = manifest.signed(manifest_key).signature
        if not hmac.compare_digest(expected, str(manifest.signature)):
            raise BackupError(f"{where}: manifest signature does not match (forged, edited or another stack's key)")
        if manifest.key != key:
            raise BackupError(f"{where}: manifest describes another backup ({manifest.key!r})")
        if manifest.database != database:
            raise BackupError(f"{where}: manifest describes database {manifest.database!r}, not {database!r}")
        return manifest


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


def new_key(prefix: str, database: str, moment: datetime) -> str:
    """A key no other run makes: the time to the microsecond, then 64 random bits."""
    stamp = moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    return f"{database_prefix(prefix, database)}{stamp}-{secrets.token_hex(8)}{DUMP_SUFFIX}"


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
        manifest_key: bytes = b"",
    ) -> None:
        self.bucket, self.prefix = bucket, prefix
        self.manifest_key = manifest_key
        self.encryption = encryption or Encryption()
        config = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            # No SHA-256 pass over every part for the request signature: each part carries a
            # checksum header, and the whole dump's sha256 is in the signed manifest, checked by
            # every restore. (botocore skips it on https with a checksum anyway, botocore/auth.py
            # S3SigV4Auth._should_sha256_sign_payload; this also spares it on an http endpoint.)
            s3={"payload_signing_enabled": False, **({"addressing_style": "path"} if endpoint_url else {})},
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

    def _objects(self, prefix: str) -> dict[str, int]:
        """Key -> size of the objects directly under `prefix`."""
        paginator = self.client.get_paginator("list_objects_v2")
        objects: dict[str, int] = {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                objects.update((item["Key"], int(item["Size"])) for item in page.get("Contents", []))
        except botocore.exceptions.ClientError as error:
            raise BackupError(f"s3://{self.bucket}/{prefix}: {_error_code(error)}", EXIT_BAD_INPUT) from None
        except botocore.exceptions.BotoCoreError as error:
            raise BackupError(f"s3://{self.bucket}/{prefix}: {error}", EXIT_BAD_INPUT) from None
        return objects

    def iter_backups(self, database: str) -> Iterator[Manifest]:
        """The database's complete, authentic backups, newest first.

        Keyed on manifests (written last); a backup whose manifest is unreadable or fails its checks,
        or whose dump is missing or of another size, is skipped with a warning that names it."""
        objects = self._objects(database_prefix(self.prefix, database))
        manifests = sorted((key for key in objects if key.endswith(DUMP_SUFFIX + MANIFEST_SUFFIX)), reverse=True)
        for manifest_key in manifests:
            key = manifest_key.removesuffix(MANIFEST_SUFFIX)
            try:
                manifest = self.read_manifest(key, database)
                if key not in objects:
                    raise BackupError(f"{self.url(key)}: the dump is missing")
                if objects[key] != manifest.size:
                    raise BackupError(
                        f"{self.url(key)}: the dump has {objects[key]} bytes, its manifest says {manifest.size}"
                    )
            except BackupError as error:
                log(f"warning: skipped: {error}")
                continue
            yield manifest

    def list_backups(self, database: str) -> list[Manifest]:
        return list(self.iter_backups(database))

    def read_manifest(self, key: str, database: str) -> Manifest:
        """The authenticated manifest of backup `key` of `database` (which must lie under its prefix)."""
        if not key.startswith(database_prefix(self.prefix, database)) or "/" in key.removeprefix(
            database_prefix(self.prefix, database)
        ):
            raise BackupError(
                f"{self.url(key)}: not a backup of database {database!r} "
                f"(its backups are under s3://{self.bucket}/{database_prefix(self.prefix, database)})",
                EXIT_BAD_INPUT,
            )
        where = self.url(key + MANIFEST_SUFFIX)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key + MANIFEST_SUFFIX)
            data = response["Body"].read()
        except botocore.exceptions.ClientError as error:
            if _error_code(error) in {"NoSuchKey", "404"}:
                raise BackupError(f"{self.url(key)}: no such backup", EXIT_BAD_INPUT) from None
            raise BackupError(f"{where}: {_error_code(error)}", EXIT_BAD_INPUT) from None
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            raise BackupError(f"{where}: {error}", EXIT_BAD_INPUT) from None
        return Manifest.loads(data, key, database, self.manifest_key, where)

    def write_manifest(self, manifest: Manifest) -> None:
        self._call(
            f"{self.url(manifest.key)}{MANIFEST_SUFFIX}",
            self.client.put_object,
            Key=manifest.key + MANIFEST_SUFFIX,
            Body=manifest.signed(self.manifest_key).dumps(),
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
        """Upload everything `stream` gives as one object; returns (size, sha256).

        Two part buffers: one fills from the stream while a thread uploads the other, so the
        producer (pg_dump) never waits for the network; memory holds two parts, whatever the size.
        `before_complete` runs when the stream has ended and may raise (the producer failed): any
        failure or interruption aborts the multipart upload, so no partial object is left behind.
        """
        upload: dict[str, Any] | None = None
        try:
            with signals.held():  # a signal during the call still lets us learn the id, to abort it
                upload = self._call(
                    self.url(key),
                    self.client.create_multipart_upload,
                    Key=key,
                    ContentType="application/octet-stream",
                    Metadata=metadata,
                    **self.encryption.request_arguments(),
                )
        except KeyboardInterrupt:
            if upload is not None:
                self.abort(key, upload["UploadId"])
            raise
        assert upload is not None
        upload_id = upload["UploadId"]
        uploader: _PartUploader | None = None
        digest = hashlib.sha256()
        size = number = 0
        # From here on the upload exists: whatever stops us (a signal while the part buffers are
        # allocated included) must abort it, so the try starts on the next line.
        try:
            uploader = _PartUploader(self, key, upload_id, on_progress)
            free: queue.Queue[memoryview] = uploader.free
            for _ in range(2):
                free.put(memoryview(bytearray(part_size)))
            while True:
                view = free.get()
                uploader.check()
                filled = _fill(stream, view)
                if filled == 0 and number > 0:
                    break
                if number >= MAX_PARTS:
                    raise BackupError(
                        f"{self.url(key)}: more than {MAX_PARTS} parts of {part_size // MIB} MiB: raise --part-size-mb"
                    )
                number += 1
                digest.update(view[:filled])
                size += filled
                uploader.work.put((number, view, filled))
                if filled < part_size:
                    break
            uploader.finish()
            before_complete()
            self._call(
                self.url(key),
                self.client.complete_multipart_upload,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": uploader.completed()},
            )
        except BaseException:
            if uploader is not None:
                uploader.stop()
            self.abort(key, upload_id)
            raise
        return size, digest.hexdigest()

    def abort(self, key: str, upload_id: str) -> None:
        # If this fails too, the lifecycle rule aborts the incomplete upload after a few days.
        with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def iter_object(self, key: str, chunk_size: int = MIB) -> Iterator[bytes]:
        """The object's bytes in chunks, as they arrive; a thread reads up to 8 chunks ahead."""
        response = self._call(self.url(key), self.client.get_object, Key=key)
        body = response["Body"]
        ahead = _ReadAhead(body.iter_chunks(chunk_size), depth=8)
        try:
            yield from ahead
        except (botocore.exceptions.BotoCoreError, OSError) as error:
            raise BackupError(f"{self.url(key)}: download failed: {error}") from None
        finally:
            ahead.stop()
            body.close()


class _PartUploader:
    """Uploads parts from a queue in a thread; buffers go back to `free` once sent."""

    def __init__(self, store: BackupStore, key: str, upload_id: str, on_progress: Callable[[int], None]) -> None:
        self.store, self.key, self.upload_id, self.on_progress = store, key, upload_id, on_progress
        self.free: queue.Queue[memoryview] = queue.Queue()
        self.work: queue.Queue[tuple[int, memoryview, int] | None] = queue.Queue()
        self.parts: list[dict[str, Any]] = []
        self.failure: BaseException | None = None
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.work.get()) is not None:
            number, view, filled = item
            try:
                if self.failure is None and not self.stopping:
                    response = self.store._call(
                        self.store.url(self.key),
                        self.store.client.upload_part,
                        Key=self.key,
                        UploadId=self.upload_id,
                        PartNumber=number,
                        Body=_PartReader(view[:filled]),  # read in place: no copy of the part
                    )
                    self.parts.append({"PartNumber": number, "ETag": response["ETag"]})
                    self.on_progress(filled)
            except BaseException as error:  # noqa: BLE001 handed to the producer, which raises it
                self.failure = error
            finally:
                self.free.put(view)

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def finish(self) -> None:
        self.work.put(None)
        while self.thread.is_alive():
            self.thread.join(timeout=0.2)  # in slices: a signal still interrupts the wait
        self.check()

    def stop(self) -> None:
        self.stopping = True
        self.work.put(None)
        self.thread.join(timeout=30)  # a part in flight ends before the upload is aborted

    def completed(self) -> list[dict[str, Any]]:
        return sorted(self.parts, key=lambda part: int(part["PartNumber"]))


class _ReadAhead:
    """Iterates `source` in a thread into a bounded queue, so downloading overlaps with consuming."""

    _END = object()

    def __init__(self, source: Iterator[bytes], depth: int) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _put(self, item: object) -> bool:
        while not self.stopping:
            with contextlib.suppress(queue.Full):
                self.queue.put(item, timeout=0.2)
                return True
        return False

    def _run(self, source: Iterator[bytes]) -> None:
        try:
            for chunk in source:
                if not self._put(chunk):
                    return
        except BaseException as error:  # noqa: BLE001 handed to the consumer, which raises it
            self._put(error)
            return
        self._put(self._END)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self.queue.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    def stop(self) -> None:
        self.stopping = True


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
