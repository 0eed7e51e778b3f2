"""Online dossiers pushed by the public service portal: received once per portal code at the competent
desk, documents fetched only from allowed hosts within the limits, bad pushes refused whole."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, Forbidden, InvalidInput, NotFound, TooLarge
from engine.integrations.dvcqg.inbound import OnlineDossier, RemoteDocument, receive_online
from engine.runtime.dossiers import Applicant
from models import Attachment, Dossier, Officer, PortalMessage
from tests.conftest import at

NOW = at("2026-11-23 09:00")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class Documents:
    """A document server on 127.0.0.1 standing for the portal's file store."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {
            "/don.pdf": PDF,
            "/lon.pdf": PDF + b"0" * 5000,
            "/x.exe": b"MZ\x90\x00",
        }
        self.requests: list[str] = []
        files, requests = self.files, self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                requests.append(self.path)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def documents():
    server = Documents()
    yield server
    server.close()


@pytest.fixture
def ictx(make_ctx, tmp_path):
    return make_ctx(
        dvcqg_document_hosts="http://127.0.0.1",
        upload_max_bytes=2000,
        attachments_dir=str(tmp_path / "files"),
    )


@pytest.fixture
def portal_account(ictx, officers) -> int:
    with ictx.uow() as uow:
        uow.session.get(Officer, officers["vp.vanthu"]).roles = ["portal"]
        uow.commit()
    return officers["vp.vanthu"]


def push(server: Documents, **changes) -> OnlineDossier:
    values = {
        "portal_code": "G22.99-261123-000123",
        "procedure_code": "1.001806",
        "applicant": Applicant(name="Lò Văn Hòa", id_number="001203004005", phone="0912345678"),
        "documents": (RemoteDocument("Văn bản đề nghị", f"{server.base}/don.pdf"),),
    }
    values.update(changes)
    return OnlineDossier(**values)


def dossier_count(ctx) -> int:
    with ctx.uow() as uow:
        return uow.session.scalar(select(func.count(Dossier.id)))


def test_a_pushed_dossier_is_received_online_at_the_competent_desk_once(
    ictx, portal_account, documents
) -> None:
    receipt = receive_online(ictx, portal_account, push(documents), NOW)
    assert receipt.agency_code == "000.00.12.H40" and receipt.dossier_code.startswith("000.00.12.H40-261123-")
    assert not receipt.repeated
    with ictx.uow() as uow:
        dossier = uow.session.scalars(select(Dossier).where(Dossier.code == receipt.dossier_code)).one()
        assert dossier.channel == "online" and dossier.received_by_id is None
        (attachment,) = uow.session.scalars(select(Attachment).where(Attachment.dossier_id == dossier.id))
        assert attachment.file_name == "Văn bản đề nghị.pdf"
    again = receive_online(ictx, portal_account, push(documents), NOW)
    assert again.repeated and again.dossier_code == receipt.dossier_code
    assert dossier_count(ictx) == 1
    assert documents.requests == ["/don.pdf"]  # the repeat fetched nothing


def test_the_same_portal_code_with_other_content_is_refused(ictx, portal_account, documents) -> None:
    receive_online(ictx, portal_account, push(documents), NOW)
    other = push(documents, applicant=Applicant(name="Người khác", phone="0987654321"))
    with pytest.raises(Conflict) as caught:
        receive_online(ictx, portal_account, other, NOW)
    assert "với nội dung khác" in caught.value.message
    assert dossier_count(ictx) == 1


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"procedure_code": "9.999999"}, NotFound, "9.999999"),
        ({"agency_code": "000.01.25.H40"}, Forbidden, "không tiếp nhận thủ tục 1.001806"),
        (
            {"documents": (RemoteDocument("Đơn", "https://evil.example/don.pdf"),)},
            InvalidInput,
            "evil.example",
        ),
        ({"documents": (RemoteDocument("Đơn", "{base}/lon.pdf"),)}, TooLarge, "vượt quá"),
        ({"documents": (RemoteDocument("Tệp chạy", "{base}/x.exe"),)}, InvalidInput, ""),
        ({"applicant": Applicant(name="Không liên lạc")}, InvalidInput, "tra cứu"),
    ],
)
def test_a_bad_push_is_refused_whole(ictx, portal_account, documents, changes, error, words) -> None:
    if "documents" in changes:
        (document,) = changes["documents"]
        changes = {"documents": (RemoteDocument(document.name, document.url.format(base=documents.base)),)}
    with pytest.raises(error) as caught:
        receive_online(ictx, portal_account, push(documents, **changes), NOW)
    assert words in caught.value.message
    assert dossier_count(ictx) == 0
    if "evil" in words:
        assert documents.requests == []


def test_only_the_portal_account_pushes(ictx, officers, documents) -> None:
    with pytest.raises(Forbidden):
        receive_online(ictx, officers["sonv.motcua"], push(documents), NOW)
    assert dossier_count(ictx) == 0


def test_the_receipt_goes_back_to_the_portal(make_ctx, officers, documents, tmp_path) -> None:
    ctx = make_ctx(
        dvcqg_document_hosts="http://127.0.0.1",
        dvcqg_url="http://127.0.0.1:9",
        dvcqg_madonvi="000.00.00.H40",
        attachments_dir=str(tmp_path / "files"),
    )
    with ctx.uow() as uow:
        uow.session.get(Officer, officers["vp.vanthu"]).roles = ["portal"]
        uow.commit()
    receipt = receive_online(ctx, officers["vp.vanthu"], push(documents), NOW)
    with ctx.uow() as uow:
        (message,) = uow.session.scalars(select(PortalMessage))
    assert message.stream == receipt.dossier_code and message.service == "DongBoHoSoMC"
    assert message.payload["data"][0]["TrangThaiHoSo"] == "2"


@pytest.fixture
def portal_api(ictx, clock, portal_account):
    from tests.test_api import Api
    from web import create_app

    app = create_app(
        ctx=ictx,
        test_config={"TESTING": True, "SECRET_KEY": "t", "MOTCUA_CLOCK": clock, "RATELIMIT_ENABLED": False},
    )
    return Api(app)


def test_the_portal_pushes_through_the_api(portal_api, documents) -> None:
    body = {
        "portal_code": "G22.99-261123-000777",
        "procedure_code": "1.001806",
        "applicant": {"name": "Lò Văn Hòa", "phone": "0912345678"},
        "documents": [{"name": "Văn bản đề nghị", "url": f"{documents.base}/don.pdf"}],
    }
    first = portal_api.post("/portal/dossiers", who="vp.vanthu", json=body)
    assert first.status_code == 201, first.get_json()
    receipt = first.get_json()
    assert receipt["agency"] == "000.00.12.H40" and receipt["dossier_code"].startswith("000.00.12.H40-")
    again = portal_api.post("/portal/dossiers", who="vp.vanthu", json=body)
    assert again.status_code == 200 and again.get_json()["repeated"] is True
    other = portal_api.post(
        "/portal/dossiers",
        who="vp.vanthu",
        json=body | {"applicant": {"name": "X", "phone": "0987654321"}},
    )
    assert other.status_code == 409, other.get_json()
    unknown = portal_api.post(
        "/portal/dossiers",
        who="vp.vanthu",
        json=body | {"portal_code": "G-2", "procedure_code": "9.9"},
    )
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "procedure_code"
    desk = portal_api.post("/portal/dossiers", who="sonv.motcua", json=body | {"portal_code": "G-3"})
    assert desk.status_code == 403
