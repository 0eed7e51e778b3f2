"""A local S3-compatible server for the object-store tests: moto's standalone server (`moto[server]`,
the dev extra) on 127.0.0.1 on a free port, with one fresh bucket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "motcua-test", "AWS_SECRET_ACCESS_KEY": "motcua-test-secret"}


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the bucket made for the tests."""

    endpoint_url: str
    bucket: str

    def settings(self) -> dict[str, str]:
        """Settings overrides that store documents in the bucket."""
        return {
            "document_store": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": self.bucket,
            "s3_region": "us-east-1",
            "s3_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "s3_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }

    def environment(self) -> dict[str, str]:
        """The same as MOTCUA_* variables, for subprocesses (credentials the standard AWS way)."""
        return {
            "MOTCUA_DOCUMENT_STORE": "s3",
            "MOTCUA_S3_ENDPOINT_URL": self.endpoint_url,
            "MOTCUA_S3_BUCKET": self.bucket,
            "MOTCUA_S3_REGION": "us-east-1",
            **CREDENTIALS,
        }


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_s3_server(log_dir: Path) -> Iterator[S3Server]:
    """Start moto's server, make a bucket, stop the server at the end."""
    boto3 = pytest.importorskip("boto3")
    server_bin = Path(sys.executable).parent / "moto_server"
    if not server_bin.exists():
        pytest.skip("moto[server] is not installed (the dev extra)")
    port = free_port()
    log = (log_dir / "moto.log").open("w")
    proc = subprocess.Popen(
        [str(server_bin), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto server did not start"
                time.sleep(0.1)
        bucket = f"motcua-{uuid.uuid4().hex[:12]}"
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=bucket)
        yield S3Server(url, bucket)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


__all__ = ["CREDENTIALS", "S3Server", "free_port", "running_s3_server"]
