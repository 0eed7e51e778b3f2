"""Where documents are kept: scans and results of dossiers, signed copies, procedure forms and the
files of citizens' feedback.

Every document is stored under its content's sha256 (key ``ab/abcdef...``, the first two hex digits
then the whole digest), so storing the same bytes twice keeps one copy, a rolled-back transaction
leaves at most an unreferenced file and never a wrong one, and a key read back can be checked
against its row's hash (`motcua check`).

Two backends, chosen by ``MOTCUA_DOCUMENT_STORE``:

- ``dir``: a directory (``MOTCUA_ATTACHMENTS_DIR``), on a shared file system (NFS) when several
  hosts serve. The keys are the relative paths stored in the rows since the first release, so old
  rows stay readable.
- ``s3``: an S3-compatible object store (AWS S3, MinIO, Ceph) through boto3, the optional extra
  ``pip install 'motcua[s3]'``.

A production instance must name one (`check_configuration`); a laptop defaults to ``dir``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from config import PROJECT_ROOT, Settings

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*(/[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")
PROBE_PREFIX = "_probe"


class StoreError(Exception):
    """The store could not be reached or refused the operation."""


class MissingDocument(StoreError):
    """No document under this key."""


class ConfigurationError(RuntimeError):
    """The document store's settings do not allow the instance to start; the message names the setting."""


@dataclass(frozen=True)
class Stored:
    """What `put` kept: the key to find it by, its sha256 and its size in bytes."""

    key: str
    sha256: str
    size: int


def key_for(digest: str) -> str:
    """The key of a document by its sha256 (the relative path the rows have always stored)."""
    return f"{digest[:2]}/{digest}"


def check_key(key: str) -> str:
    """A key is a relative path of plain names; anything else (``..``, absolute) is refused."""
    if not _KEY.match(key or "") or ".." in key.split("/"):
        raise MissingDocument(f"invalid document key {key!r}")
    return key


def hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    """sha256 and size of a stream, read in chunks (never the whole document in memory)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class DocumentStore(ABC):
    """The operations every backend offers. Keys come from `put` (or rows written by earlier releases)."""

    backend: str

    def put(self, data: bytes | IO[bytes]) -> Stored:
        """Keep the bytes (or a stream's) under their sha256; storing the same content again is a no-op
        (unless the kept copy has another size, which it then replaces)."""
        if isinstance(data, bytes | bytearray | memoryview):
            raw = bytes(data)
            digest = hashlib.sha256(raw).hexdigest()
            key = key_for(digest)
            if self.size(key) != len(raw):  # absent, or cut short: (re)written
                self._write(key, raw)
            return Stored(key, digest, len(raw))
        with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK) as spool:
            hasher = hashlib.sha256()
            size = 0
            while chunk := data.read(CHUNK):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            digest = hasher.hexdigest()
            key = key_for(digest)
            if self.size(key) != size:
                spool.seek(0)
                self._write(key, spool)
            return Stored(key, digest, size)

    def get(self, key: str) -> bytes:
        """The whole document (small documents only: signing, digitising)."""
        with self.open(key) as stream:
            return stream.read()

    def digest(self, key: str) -> tuple[str, int]:
        """sha256 and size of a stored document, streamed."""
        with self.open(key) as stream:
            return hash_stream(stream)

    def chunks(self, key: str) -> Iterator[bytes]:
        """The document in chunks, for streaming it to a client."""
        with self.open(key) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    def probe(self) -> None:
        """Reachable and writable: a small object written, read back and deleted; StoreError if not."""
        key = f"{PROBE_PREFIX}-{uuid.uuid4().hex}"  # at the top: no directory left behind
        payload = b"motcua health probe"
        self._write(key, payload)
        try:
            if self.get(key) != payload:
                raise StoreError("the probe object read back differs")
        finally:
            self.delete(key)

    @abstractmethod
    def _write(self, key: str, data: bytes | IO[bytes]) -> None: ...

    @abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """A binary stream of the document; MissingDocument when there is none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a document is kept under the key."""

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The document's size in bytes, None when there is none."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the document (no error when there is none)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the documents are, for messages (never a credential)."""


class DirectoryStore(DocumentStore):
    """Documents as files under a directory: ``<root>/ab/abcdef...``."""

    backend = "dir"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of a key (inside the root: checked keys have no ``..``)."""
        return self.root / check_key(key)

    def _write(self, key: str, data: bytes | IO[bytes]) -> None:
        target = self.path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Written beside its place and renamed: a reader never sees half a document.
            with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as tmp:
                if isinstance(data, bytes):
                    tmp.write(data)
                else:
                    while chunk := data.read(CHUNK):
                        tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, target)
        except OSError as exc:
            raise StoreError(f"cannot write under {self.root}: {exc.strerror or exc}") from exc

    def open(self, key: str) -> IO[bytes]:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise MissingDocument(f"no document {key}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def describe(self) -> str:
        return f"dir {self.root}"


class S3Store(DocumentStore):
    """Documents as objects of one bucket of an S3-compatible store: ``<prefix>ab/abcdef...``."""

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str = "",
        region: str = "",
        prefix: str = "",
        access_key_id: str = "",
        secret_access_key: str = "",
    ) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - the extra is missing
            raise ConfigurationError(
                "MOTCUA_DOCUMENT_STORE=s3 needs boto3: pip install 'motcua[s3]'"
            ) from None
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=Config(
                connect_timeout=3,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
                # Path-style addressing works with every S3-compatible server (no bucket DNS names).
                s3={"addressing_style": "path"},
            ),
        )

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _failed(self, exc: Exception, key: str) -> StoreError:
        return StoreError(f"{self.describe()}: {key}: {type(exc).__name__}: {exc}")

    def _write(self, key: str, data: bytes | IO[bytes]) -> None:
        name = self._object(key)
        try:
            if isinstance(data, bytes):
                self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
            else:
                self.client.upload_fileobj(data, self.bucket, name)
        except Exception as exc:  # botocore's errors: connection, credentials, the server's answer
            raise self._failed(exc, key) from exc

    def open(self, key: str) -> IO[bytes]:
        from botocore.exceptions import ClientError

        name = self._object(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise MissingDocument(f"no document {key}") from None
            raise self._failed(exc, key) from exc
        except Exception as exc:
            raise self._failed(exc, key) from exc
        return answer["Body"]  # a StreamingBody: read(n), close()

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        name = self._object(key)
        try:
            return self.client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._failed(exc, key) from exc
        except Exception as exc:
            raise self._failed(exc, key) from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else int(head["ContentLength"])

    def delete(self, key: str) -> None:
        name = self._object(key)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        except Exception as exc:
            raise self._failed(exc, key) from exc

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3 bucket {self.bucket}{where}"


def check_configuration(settings: Settings) -> None:
    """Refuse settings a process must not start with: the message names the setting to set."""
    choice = settings.document_store
    if settings.production and not choice:
        raise ConfigurationError(
            "MOTCUA_DOCUMENT_STORE is not set: a production instance (MOTCUA_SESSION_COOKIE_SECURE=true) "
            "must say where documents are kept: dir (MOTCUA_ATTACHMENTS_DIR on storage every host "
            "shares) or s3 (MOTCUA_S3_BUCKET on an S3-compatible object store); see docs/deploy.md"
        )
    if choice == "s3" and not settings.s3_bucket:
        raise ConfigurationError("MOTCUA_DOCUMENT_STORE=s3 needs MOTCUA_S3_BUCKET (the documents' bucket)")
    inside_code = Path(settings.attachments_dir).resolve().is_relative_to(PROJECT_ROOT)
    if choice == "dir" and settings.production and inside_code:
        raise ConfigurationError(
            "MOTCUA_ATTACHMENTS_DIR is inside the code's directory: set it to the documents' "
            "directory (backed up, shared by every host), e.g. /srv/motcua/documents"
        )


_STORES: dict[tuple[str, ...], DocumentStore] = {}
_LOCK = threading.Lock()


def document_store(settings: Settings) -> DocumentStore:
    """The store the settings choose, one per process and configuration (boto3 clients are thread-safe)."""
    if settings.document_store == "s3":
        identity: tuple[str, ...] = (
            "s3",
            settings.s3_bucket,
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_prefix,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
    else:
        identity = ("dir", settings.attachments_dir)
    with _LOCK:
        found = _STORES.get(identity)
        if found is None:
            if identity[0] == "s3":
                check_configuration(settings)
                found = S3Store(
                    settings.s3_bucket,
                    endpoint_url=settings.s3_endpoint_url,
                    region=settings.s3_region,
                    prefix=settings.s3_prefix,
                    access_key_id=settings.s3_access_key_id,
                    secret_access_key=settings.s3_secret_access_key,
                )
            else:
                found = DirectoryStore(settings.attachments_dir)
            _STORES[identity] = found
        return found


def health(settings: Settings) -> dict[str, str]:
    """The store's part of `/healthz`: its backend and whether a probe object could be put and deleted."""
    try:
        store = document_store(settings)
        store.probe()
    except (StoreError, ConfigurationError) as exc:
        setting = "MOTCUA_S3_*" if settings.document_store == "s3" else "MOTCUA_ATTACHMENTS_DIR"
        return {
            "backend": settings.document_store or "dir",
            "state": "unreachable",
            "message": f"{setting}: the document store cannot be written ({type(exc).__name__}: {exc})"[:300],
        }
    return {"backend": store.backend, "state": "ok"}


__all__ = [
    "ConfigurationError",
    "DirectoryStore",
    "DocumentStore",
    "MissingDocument",
    "S3Store",
    "StoreError",
    "Stored",
    "check_configuration",
    "document_store",
    "hash_stream",
    "health",
    "key_for",
]
