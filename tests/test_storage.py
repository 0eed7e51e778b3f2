"""The document store: the directory and S3 backends behind one interface, documents of dossiers
stored and served through it, `motcua check` of every document's file and hash, the production
refusal without a chosen store and the store's part of `/healthz`."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from config import Settings
from engine.runtime import dossiers as svc
from engine.runtime.attachments import Upload
from engine.runtime.dossier_views import dossier_attachment
from engine.storage import (
    ConfigurationError,
    DirectoryStore,
    DocumentStore,
    MissingDocument,
    check_configuration,
    document_store,
    key_for,
)
from engine.storage.check import check_documents
from tests.conftest import Officers, at
from tests.s3_server import S3Server, running_s3_server

PDF = b"%PDF-1.4\n" + b"ho so " * 2000 + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One moto server for the module."""
    with running_s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(params=["dir", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    if request.param == "dir":
        return document_store(Settings(attachments_dir=str(tmp_path / "documents"), document_store="dir"))
    server: S3Server = request.getfixturevalue("s3")
    return document_store(Settings().with_overrides(**server.settings()))


def test_store_keeps_documents_under_their_hash(store: DocumentStore) -> None:
    digest = hashlib.sha256(PDF).hexdigest()
    stored = store.put(PDF)
    assert (stored.key, stored.sha256, stored.size) == (key_for(digest), digest, len(PDF))
    assert store.put(io.BytesIO(PDF)) == stored  # a stream of the same content: the same key, one copy
    assert store.exists(stored.key) and store.size(stored.key) == len(PDF)
    assert store.get(stored.key) == PDF
    assert store.digest(stored.key) == (digest, len(PDF))
    assert b"".join(store.chunks(stored.key)) == PDF
    store._write(stored.key, PDF[:100])  # a copy cut short (a full disk) is replaced by the next put
    assert store.put(PDF) == stored and store.get(stored.key) == PDF
    store.probe()  # writable: a probe object put, read and deleted
    store.delete(stored.key)
    assert not store.exists(stored.key) and store.size(stored.key) is None
    with pytest.raises(MissingDocument):
        store.open(stored.key)
    for bad in ("../etc/passwd", "/etc/passwd", "ab/../../x", ""):
        with pytest.raises(MissingDocument):
            store.open(bad)


def test_directory_store_reads_the_paths_rows_always_stored(tmp_path: Path) -> None:
    digest = hashlib.sha256(b"old").hexdigest()
    (tmp_path / digest[:2]).mkdir()
    (tmp_path / digest[:2] / digest).write_bytes(b"old")  # as engine/runtime/attachments.py wrote them
    assert DirectoryStore(tmp_path).get(str(Path(digest[:2]) / digest)) == b"old"


def test_dossier_documents_in_the_object_store_and_their_check(make_ctx, s3: S3Server, monkeypatch) -> None:
    ctx = make_ctx(**s3.settings())
    officers = Officers(ctx)
    scan = PDF + uuid.uuid4().hex.encode()  # the bucket is the module's: content of this test only
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Nguyễn Văn An", id_number="001203004005", phone="0912345678"),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
        uploads=[Upload("don.pdf", scan), Upload("ban-sao.pdf", scan + b"2")],
    )
    with ctx.uow() as uow:
        from models import Attachment

        rows = list(
            uow.session.query(Attachment).filter_by(dossier_id=receipt.dossier_id).order_by(Attachment.id)
        )
        ids = [(a.id, a.stored_path) for a in rows]
    served = dossier_attachment(ctx, officers["sonv.motcua"], receipt.code, ids[0][0])
    with served.stream as stream:
        assert (stream.read(), served.size) == (scan, len(scan))
    report = check_documents(ctx)
    assert (report.ok, report.checked) == (True, 2), report.lines()
    # One object deleted, the other's bytes replaced: both reported, and the command fails.
    store = document_store(ctx.settings)
    store.delete(ids[0][1])
    store._write(ids[1][1], b"%PDF-1.4 changed")
    report = check_documents(ctx)
    assert [line.split(" (")[0] for line in report.missing] == [
        f"hồ sơ {receipt.code}, tài liệu {ids[0][0]} “don.pdf”"
    ]
    assert len(report.mismatched) == 1 and ids[1][1] in report.mismatched[0]
    from web.cli import main

    for name, value in s3.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.settings.database_url)
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "Thiếu tệp: hồ sơ" in result.output and "Tệp bị thay đổi (sha256 khác)" in result.output
    assert "Đã kiểm tra 2 tài liệu, 2 tài liệu lỗi" in result.output


def test_production_names_its_document_store(tmp_path: Path) -> None:
    production = Settings(session_cookie_secure=True)
    with pytest.raises(ConfigurationError, match="MOTCUA_DOCUMENT_STORE is not set"):
        check_configuration(production)
    with pytest.raises(ConfigurationError, match="MOTCUA_ATTACHMENTS_DIR is inside the code's directory"):
        check_configuration(production.with_overrides(document_store="dir"))
    with pytest.raises(ConfigurationError, match="MOTCUA_S3_BUCKET"):
        check_configuration(Settings(document_store="s3"))
    check_configuration(production.with_overrides(document_store="dir", attachments_dir=str(tmp_path)))
    check_configuration(Settings())  # a laptop: the directory beside the code
    from web import create_app

    with pytest.raises(ConfigurationError, match="MOTCUA_DOCUMENT_STORE"):
        create_app(production.with_overrides(database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    # Named its store but not its key: refused too, rather than a key per process.
    with pytest.raises(ConfigurationError, match="MOTCUA_SECRET_KEY is not set"):
        create_app(
            production.with_overrides(
                database_url=f"sqlite:///{tmp_path / 'x.db'}",
                document_store="dir",
                attachments_dir=str(tmp_path),
            )
        )


def test_healthz_reports_the_document_store(app, make_ctx, clock, s3: S3Server) -> None:
    answer = app.test_client().get("/healthz")
    assert answer.get_json()["document_store"] == {"backend": "dir", "state": "ok"}
    from web import create_app

    for bucket, expected in ((s3.bucket, 200), ("no-such-bucket", 503)):
        broken = create_app(
            ctx=make_ctx(**(s3.settings() | {"s3_bucket": bucket})),
            test_config={"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock},
        )
        answer = broken.test_client().get("/healthz")
        body = answer.get_json()
        assert answer.status_code == expected, body
        assert body["document_store"]["backend"] == "s3"
        if expected == 503:
            assert body["status"] == "down" and body["document_store"]["state"] == "unreachable"
            assert body["document_store"]["message"].startswith("MOTCUA_S3_*")
