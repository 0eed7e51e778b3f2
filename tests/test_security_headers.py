"""Browser security headers on every route: every GET route of the app is rendered, signed in as an
officer who may open it (or anonymously for the public ones), and its response carries the policy.

A new GET route fails `test_every_get_route_is_checked` until it has a line in ROUTES below.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from engine.accounts import issue_token
from engine.deadlines.watcher import tick
from engine.feedback.service import FeedbackInput, submit_feedback
from engine.publication.forms import add_form
from engine.runtime.attachments import Upload
from engine.runtime.counter import issue_counter_slip
from engine.runtime.dossiers import Applicant
from engine.statistics.reports import COLUMNS
from models import ApologyLetter, Dossier, Officer, Procedure, ProcessVersion
from tests.conftest import WebClient, at, open_items
from tests.test_payments import paid_online
from tests.test_web import PDF, receive_form


@dataclass
class Site:
    """What the routes' parameters point at: a dossier with a document, its open step, an apology
    letter, a counter slip, an active process version and an API token."""

    code: str
    attachment: str
    item_id: int
    letter_id: int
    slip_id: int
    version_id: int
    token: str
    feedback_code: str = ""  # a citizen's feedback (phản ánh, kiến nghị)
    payment_reference: str = ""  # a fee paid online (the gateway's return page)


DESK, LEADER, OWNER, ADMIN = "sonv.motcua", "sonv.lanhdao", "sonv.quytrinh", "sonv.giamsat"
ANONYMOUS, TOKEN = None, "token"

# endpoint: (who opens it, its address). Everything a GET can show, with real parameters.
ROUTES: dict[str, tuple[str | None, Callable[[Site], str]]] = {
    "inbox.index": (DESK, lambda s: "/"),
    "inbox.task": (DESK, lambda s: f"/viec/{s.item_id}"),
    "auth.login": (ANONYMOUS, lambda s: "/dang-nhap"),
    "desk.index": (DESK, lambda s: "/mot-cua/"),
    "desk.receive": (DESK, lambda s: "/mot-cua/tiep-nhan"),
    "desk.checklist": (DESK, lambda s: "/mot-cua/thanh-phan-ho-so?procedure_code=1.001806"),
    "desk.appointment": (DESK, lambda s: "/mot-cua/hen-tra?procedure_code=1.001806"),
    "desk.reusable": (
        DESK,
        lambda s: "/mot-cua/giay-to-da-so-hoa?procedure_code=1.001806&applicant_id_number=001203004005",
    ),
    "desk.resume": (DESK, lambda s: f"/mot-cua/ho-so/{s.code}/bo-sung"),
    "desk.withdraw": (DESK, lambda s: f"/mot-cua/ho-so/{s.code}/rut-ho-so"),
    "desk.return_result": (DESK, lambda s: f"/mot-cua/ho-so/{s.code}/tra-ket-qua"),
    "postal.request_return": (DESK, lambda s: f"/mot-cua/ho-so/{s.code}/buu-chinh/dang-ky"),
    "postal.hand_over": (DESK, lambda s: f"/mot-cua/ho-so/{s.code}/buu-chinh/giao"),
    "counter.issue": (DESK, lambda s: "/mot-cua/phieu-tai-quay/"),
    "counter.print_slip": (DESK, lambda s: f"/mot-cua/phieu-tai-quay/{s.slip_id}"),
    "dossiers.search": (DESK, lambda s: "/ho-so/?q=Lan"),
    "dossiers.export": (DESK, lambda s: "/ho-so/xuat-excel?q=Lan"),
    "dossiers.show": (DESK, lambda s: f"/ho-so/{s.code}"),
    "dossiers.print_form": (DESK, lambda s: f"/ho-so/{s.code}/in/01"),
    "dossiers.bpmn": (DESK, lambda s: f"/ho-so/{s.code}/quy-trinh.bpmn"),
    "dossiers.attachment": (DESK, lambda s: s.attachment),
    "alerts.inbox": (LEADER, lambda s: "/thong-bao"),
    "alerts.overdue": (LEADER, lambda s: "/xin-loi"),
    "alerts.letter": (LEADER, lambda s: f"/xin-loi/{s.letter_id}"),
    "alerts.print_letter": (LEADER, lambda s: f"/xin-loi/{s.letter_id}/in"),
    "alerts.failed": (ADMIN, lambda s: "/quan-tri/thong-bao-loi"),
    "admin.tokens": (ADMIN, lambda s: "/quan-tri/ma-truy-cap"),
    "processes.index": (OWNER, lambda s: "/quy-trinh/"),
    "processes.procedure": (OWNER, lambda s: "/quy-trinh/1.001806"),
    "processes.version": (OWNER, lambda s: f"/quy-trinh/phien-ban/{s.version_id}"),
    "processes.xml": (OWNER, lambda s: f"/quy-trinh/phien-ban/{s.version_id}/bpmn?tai=1"),
    "processes.editor": (OWNER, lambda s: f"/quy-trinh/phien-ban/{s.version_id}/sua"),
    "catalogue_admin.new": (OWNER, lambda s: "/quy-trinh/danh-muc/moi"),
    "catalogue_admin.edit": (OWNER, lambda s: "/quy-trinh/danh-muc/1.001806/sua"),
    "catalogue_admin.import_form": (OWNER, lambda s: "/quy-trinh/danh-muc/nhap"),
    "catalogue_admin.export": (OWNER, lambda s: "/quy-trinh/danh-muc/xuat"),
    "dvcqg.index": (ADMIN, lambda s: "/quan-tri/cong-dvcqg/"),
    "auth.change_password": (DESK, lambda s: "/doi-mat-khau"),
    "favicon": (ANONYMOUS, lambda s: "/favicon.ico"),
    "step_tables.upload": (OWNER, lambda s: "/quy-trinh/1.001806/bang-cac-buoc"),
    "worklists.index": (LEADER, lambda s: "/dieu-hanh"),
    "reports.statistics": (LEADER, lambda s: "/bao-cao/?period=2026-11"),
    "reports.csv": (LEADER, lambda s: "/bao-cao/bieu-06.csv?period=2026-11"),
    "reports.xlsx": (LEADER, lambda s: "/bao-cao/bieu-06.xlsx?period=2026-11"),
    "reports.quality": (LEADER, lambda s: "/bao-cao/chi-so?period=2026-11"),
    "reports.cell": (LEADER, lambda s: f"/bao-cao/ho-so?period=2026-11&column={COLUMNS[0].key}"),
    "reports.dashboard": (LEADER, lambda s: "/bao-cao/tong-quan"),
    "register.page": (DESK, lambda s: "/so-theo-doi/?period=2026-11"),
    "register.xlsx": (DESK, lambda s: "/so-theo-doi/so-theo-doi-ho-so.xlsx?period=2026-11"),
    "public.lookup": (ANONYMOUS, lambda s: f"/tra-cuu?ma={s.code}"),
    "payments.fees": (DESK, lambda s: f"/ho-so/{s.code}/phi"),
    "payments.returned": (ANONYMOUS, lambda s: f"/tra-cuu/thanh-toan/ket-qua?ref={s.payment_reference}"),
    "feedback.form": (ANONYMOUS, lambda s: "/phan-anh"),
    "feedback.follow": (ANONYMOUS, lambda s: f"/phan-anh/{s.feedback_code}"),
    "feedback_api.status_api": (ANONYMOUS, lambda s: f"/api/v1/public/feedback/{s.feedback_code}"),
    "public_catalogue.index": (ANONYMOUS, lambda s: "/thu-tuc?q=khai+sinh"),
    "public_catalogue.procedure": (ANONYMOUS, lambda s: "/thu-tuc/1.001806"),
    "public_catalogue.diagram": (ANONYMOUS, lambda s: "/thu-tuc/1.001806/so-do.bpmn"),
    "public_catalogue.form_file": (
        ANONYMOUS,
        lambda s: f"/thu-tuc/1.001806/bieu-mau/{hashlib.sha256(PDF).hexdigest()[:16]}",
    ),
    "public_api.procedures": (ANONYMOUS, lambda s: "/api/v1/public/procedures?q=khai"),
    "public_api.procedure_json": (ANONYMOUS, lambda s: "/api/v1/public/procedures/1.001806"),
    "health.healthz": (ANONYMOUS, lambda s: "/healthz"),
    "health.livez": (ANONYMOUS, lambda s: "/livez"),
    "health.metrics": (ANONYMOUS, lambda s: "/metrics"),
    "static": (ANONYMOUS, lambda s: "/static/app.js"),
    "vendor.asset": (ANONYMOUS, lambda s: "/vendor/bootstrap/dist/css/bootstrap.min.css"),
    "api.health": (ANONYMOUS, lambda s: "/api/v1/health"),
    "api.openapi_document": (ANONYMOUS, lambda s: "/api/v1/openapi.json"),
    "api.procedures": (TOKEN, lambda s: "/api/v1/procedures"),
    "api.list_dossiers": (TOKEN, lambda s: "/api/v1/dossiers?q=Lan"),
    "api.get_dossier": (TOKEN, lambda s: f"/api/v1/dossiers/{s.code}"),
    "api.list_work_items": (TOKEN, lambda s: "/api/v1/work-items"),
    "api.get_work_item": (TOKEN, lambda s: f"/api/v1/work-items/{s.item_id}"),
}

# Files the same for everybody, which browsers may keep; everything else carries personal data.
CACHEABLE = {
    "static",
    "vendor.asset",
    "favicon",
    # the public procedure catalogue: the same for everybody
    "public_catalogue.form_file",
    "public_catalogue.index",
    "public_catalogue.procedure",
    "public_catalogue.diagram",
    "public_api.procedures",
    "public_api.procedure_json",
}
# Raw XML and documents keep the sandboxing policy their views set.
SANDBOXED = {
    "dossiers.bpmn",
    "dossiers.attachment",
    "processes.xml",
    "public_catalogue.diagram",
    "public_catalogue.form_file",
}
PAGE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: sources}."""
    pairs = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}


def header_problems(endpoint: str, response) -> list[str]:
    """What is wrong with the security headers of one response (empty when nothing)."""
    headers, problems = response.headers, []
    expected = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "X-XSS-Protection": "0"}
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"{name}: {headers.get(name)!r}")
    if headers.get("Referrer-Policy") not in ("same-origin", "no-referrer"):
        problems.append(f"Referrer-Policy: {headers.get('Referrer-Policy')!r}")
    if "camera=()" not in headers.get("Permissions-Policy", ""):
        problems.append(f"Permissions-Policy: {headers.get('Permissions-Policy')!r}")
    cache = headers.get("Cache-Control", "")
    if endpoint in CACHEABLE:
        if "no-store" in cache:
            problems.append(f"a static file is not cacheable: {cache!r}")
    elif cache != "no-store":
        problems.append(f"Cache-Control: {cache!r}")
    policy = directives(headers.get("Content-Security-Policy", ""))
    if endpoint in SANDBOXED:
        if policy != {"default-src": "'none'", "sandbox": ""}:
            problems.append(f"the sandboxing policy was replaced: {policy}")
    else:
        problems += [
            f"CSP {name}: {policy.get(name)!r}"
            for name, value in PAGE_POLICY.items()
            if policy.get(name) != value
        ]
    if "'unsafe-inline'" in headers.get("Content-Security-Policy", "") or "'unsafe-eval'" in str(policy):
        problems.append("the policy allows inline code")
    return problems


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE = re.compile(r"<style\b|<[^>]*\sstyle\s*=", re.I)


def inline_code(html: str) -> list[str]:
    """Inline scripts, event handler attributes and inline styles the policy would block."""
    return [
        found.group(0)[:80] for pattern in (INLINE_SCRIPT, HANDLER, STYLE) for found in pattern.finditer(html)
    ]


@pytest.fixture
def site(app, web, clock) -> Site:
    ctx = app.extensions["motcua"]
    form = receive_form(key="headers")
    form["files"] = (io.BytesIO(PDF), "don-de-nghi.pdf")
    web.login(DESK)
    received = web.post(
        "/mot-cua/tiep-nhan", form, page="/mot-cua/tiep-nhan", content_type="multipart/form-data"
    )
    code = re.search(r"/ho-so/([^/]+)/in/01", received.location).group(1)
    attachment = re.search(
        r'href="(/ho-so/[^"]+/tai-lieu/\d+)"', web.get(f"/ho-so/{code}").get_data(as_text=True)
    )
    with ctx.uow() as uow:
        officers = {o.username: o for o in uow.session.scalars(select(Officer))}
        officers[ADMIN].roles = [*officers[ADMIN].roles, "admin"]
        desk_id = officers[DESK].id
        owner_id = officers[OWNER].id
        dossier_id = uow.session.scalar(select(Dossier.id).where(Dossier.code == code))
        version_id = uow.session.scalar(
            select(ProcessVersion.id)
            .join(Procedure, Procedure.id == ProcessVersion.procedure_id)
            .where(Procedure.code == "1.001806", ProcessVersion.status == "active")
        )
        uow.commit()
    add_form(ctx, owner_id, "1.001806", "Tờ khai", Upload("to-khai.pdf", PDF), clock.moment)
    slip = issue_counter_slip(
        ctx,
        kind="supplement",
        procedure_code="1.001806",
        applicant=Applicant(name="Lê Văn Cường", phone="0901234567"),
        missing=["Bản sao hợp đồng lao động"],
        reason="Thiếu hợp đồng lao động",
        officer_id=desk_id,
        now=clock.moment,
    )
    clock.moment = at("2026-12-08 10:00")  # past the legal due time: the watcher drafts a letter
    tick(ctx, clock.moment)
    with ctx.uow() as uow:
        letter_id = uow.session.scalar(select(ApologyLetter.id).where(ApologyLetter.dossier_id == dossier_id))
    return Site(
        code=code,
        attachment=attachment.group(1),
        item_id=open_items(ctx, dossier_id)[0].id,
        letter_id=letter_id,
        slip_id=slip.id,
        version_id=version_id,
        token=issue_token(ctx, DESK, "kiểm thử tiêu đề", clock.moment),
        feedback_code=submit_feedback(
            ctx, FeedbackInput(name="Trần Thị Bình", content="Góp ý", email="b@example.vn"), now=clock.moment
        ).code,
        payment_reference=paid_online(ctx, dossier_id, clock.moment),
    )


def get_routes(app) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in rule.methods}


def test_every_get_route_is_checked(app) -> None:
    missing = sorted(get_routes(app) - ROUTES.keys())
    assert not missing, f"add these GET routes to ROUTES in tests/test_security_headers.py: {missing}"


def test_every_get_route_sends_the_security_headers_and_no_inline_code(app, site) -> None:
    clients: dict[str | None, WebClient] = {}
    problems: dict[str, list[str]] = {}
    for endpoint in sorted(get_routes(app) & ROUTES.keys()):
        who, address = ROUTES[endpoint]
        url = address(site)
        if who == TOKEN:
            response = app.test_client().get(url, headers={"Authorization": f"Bearer {site.token}"})
        else:
            if who not in clients:
                clients[who] = WebClient(app)
                if who is not None:
                    clients[who].login(who)
            response = clients[who].get(url)
        found = [] if response.status_code == 200 else [f"status {response.status_code}"]
        found += header_problems(endpoint, response)
        if response.mimetype == "text/html":
            found += inline_code(response.get_data(as_text=True))
        if found:
            problems[f"{endpoint} {url}"] = found
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())


def test_the_lookup_result_and_the_sign_in_redirect_carry_the_headers(web, site) -> None:
    result = web.post("/tra-cuu", {"code": site.code, "last4": "5678"})
    assert 'id="lookup-result"' in result.get_data(as_text=True)
    assert header_problems("public.lookup", result) == []
    assert result.headers["Referrer-Policy"] == "no-referrer"  # the lookup's own, kept
    anonymous = WebClient(web.app).get(f"/ho-so/{site.code}")
    assert anonymous.status_code == 302 and header_problems("dossiers.show", anonymous) == []
    unknown = web.get("/khong-co-trang-nay")
    assert unknown.status_code == 404 and header_problems("", unknown) == []
    assert inline_code(unknown.get_data(as_text=True)) == []


def test_only_the_editor_allows_the_modelers_icon_styles_by_their_hashes(web, site) -> None:
    web.login(OWNER)
    editor = directives(
        web.get(f"/quy-trinh/phien-ban/{site.version_id}/sua").headers["Content-Security-Policy"]
    )
    version = directives(
        web.get(f"/quy-trinh/phien-ban/{site.version_id}").headers["Content-Security-Policy"]
    )
    hashes = editor["style-src-attr"].split()
    assert hashes[0] == "'unsafe-hashes'" and len(hashes) == 5
    assert all(source.startswith("'sha256-") for source in hashes[1:])
    assert "style-src-attr" not in version and editor["style-src"] == "'self'"


def test_https_responses_ask_the_browser_to_stay_on_https(app) -> None:
    client = app.test_client()
    assert (
        client.get("/dang-nhap", base_url="https://motcua.example.vn")
        .headers["Strict-Transport-Security"]
        .startswith("max-age=")
    )
    assert "Strict-Transport-Security" not in client.get("/dang-nhap").headers
