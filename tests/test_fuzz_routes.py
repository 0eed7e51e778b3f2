"""No route answers 500, whatever it is sent: every route of the app (its url_map), signed in as an
officer holding every role and anonymously, on SQLite and PostgreSQL.

Each route is filled with hostile values in its path, its query string, its form body (with a valid
CSRF token), its uploads, its raw body and, for the API, its JSON body and bearer token: NUL and other
control characters, lone surrogates, integers beyond 32 and 64 bits, 10,000-character strings, odd
dates, periods such as 0001-01, and LIKE's `%` and `_`. The fields tried on a route are the ones its
module reads (found in its source), so a new field is fuzzed without being listed here.

Bounded and reproducible: per route, one explicit example per core hostile value, then
MOTCUA_ROUTE_FUZZ_EXAMPLES generated ones (signed in only), derandomized; no shrinking, so a failure
is reported as found. Every failing route is listed at once.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import Rule

from engine.accounts import issue_token
from engine.catalogue import versions
from engine.deadlines.watcher import tick
from engine.runtime import dossiers as svc
from engine.runtime.attachments import Upload
from engine.runtime.counter import issue_counter_slip
from models import ApiToken, ApologyLetter, Attachment, Dossier, Officer, ProcessVersion
from tests.conftest import LOADED_AT, WebClient, at, open_items
from tests.test_input_guards import every_role
from web.api_spec import PREFIX

EXAMPLES = int(os.environ.get("MOTCUA_ROUTE_FUZZ_EXAMPLES", "4"))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FUZZ_OFFICER = "sonv.giamsat"

# One explicit example per value, on every route, signed in and anonymously.
CORE = [
    "\x00",
    "a\ud800b",
    str(2**31),
    str(2**63),
    "x" * 10_000,
    "0001-01",
    "%",
    "_",
]
HOSTILE = [
    *CORE,
    "",
    " ",
    "\x07",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\udfff",
    "\ufeff",
    "\u202e",
    "😀",
    "Đ" * 10_000,
    "-1",
    "0",
    "2147483647",
    "-2147483649",
    "18446744073709551616",
    "1" + "0" * 30,
    "²",
    "١٢",
    "1e309",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "0000-00-00",
    "10000-01-01",
    "9999-12",
    "9999-Q4",
    "0001-H1",
    "0001-01-01..9999-12-31",
    "2026-13",
    "25:61",
    "%%",
    "%_%",
    "\\",
    "'",
    '"',
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "//evil.example",
    "null",
    "true",
]
# Fields a page reads that are not found by their module's source (read through a helper elsewhere).
SHARED_FIELDS = ("next", "csrf_token", "submission_key")
VALID_FORM = {
    "procedure_code": "1.001806",
    "applicant_name": "Nguyễn Thị Lan",
    "applicant_phone": "0912345678",
    "channel": "in_person",
    "documents": "Văn bản đề nghị",
    "kind": "supplement",
    "missing": "Giấy tờ A",
    "reason": "Thiếu giấy tờ",
    "refusal_reason": "Không đủ điều kiện",
    "comment": "Đồng ý",
    "note": "Đã nhận",
    "collected_by": "Nguyễn Thị Lan",
    "decision_number": "12/QĐ-UBND",
    "decision_date": "2026-11-20",
    "new_due_date": "2026-12-20",
    "new_due_time": "08:00",
    "satisfied": "yes",
    "last4": "5678",
}
VALID_QUERY = {"period": "2026-11", "column": "received", "scope": "all"}
API_FIELDS = {
    "procedure_code": "1.001806",
    "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678"},
    "channel": "online",
    "documents": ["Văn bản đề nghị"],
    "data": {"ok": True},
    "outcome": None,
    "comment": "Đồng ý",
    "missing": ["Giấy tờ A"],
    "reason": "Thiếu giấy tờ",
    "note": "Đã nhận",
    "collected_by": "Nguyễn Văn An",
}
API_QUERY = ("scope", "status", "procedure", "limit", "offset")
RAW_BODIES = [
    b"",
    b"\x00\x01\x02",
    b"not xml",
    "<a>\ud800</a>".encode("utf-8", "surrogatepass"),
    b"<a>" * 5000,
]
FILE_NAMES = ["don.pdf", "a\x00b.pdf", "x" * 300 + ".pdf", "../../etc/passwd", "quy-trinh.bpmn", "Đơn.pdf"]
FILE_CONTENTS = [PDF, b"", b"\x00" * 64, b"<definitions/>"]
# Health probes read no input; signed in on SQLite they would wait on the page header's transaction.
ANONYMOUS_ONLY = {"health.healthz", "health.metrics"}
# Signing out would end the signed-in run; it is fuzzed anonymously.
NOT_SIGNED_IN = {"auth.logout"}
PATH_PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@dataclass
class Site:
    """What the routes can name: rows of every kind the paths take, seeded through the engine."""

    path_values: dict[str, str]
    token: str
    bpmn: list[bytes]
    # The JSON body fields each API operation declares, by rule and method.
    api_bodies: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    views: dict[str, Any] = field(default_factory=dict)

    def path_value(self, endpoint: str, name: str) -> str:
        """A value of the parameter that names something that exists."""
        return self.path_values.get(f"{endpoint}.{name}", self.path_values.get(name, "1"))

    def api_body(self, rule: Rule, method: str) -> dict[str, Any]:
        """A valid body of the operation."""
        return {k: API_FIELDS[k] for k in self.api_bodies.get((rule.rule, method), []) if k in API_FIELDS}


def seed(app, clock) -> Site:
    """A dossier with an attachment and an apology letter, an open one, a counter slip, a draft, a token."""
    ctx = app.extensions["motcua"]
    officer = every_role(app, FUZZ_OFFICER)
    with ctx.uow() as uow:
        ids = {
            name: uow.session.scalar(select(Officer.id).where(Officer.username == name))
            for name in ("sonv.motcua", "sonv.quytrinh")
        }
    late = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Nguyễn Thị Lan", phone="0912345678"),
        channel="in_person",
        officer_id=ids["sonv.motcua"],
        now=clock.moment,
        uploads=[Upload("don.pdf", PDF)],
    )
    clock.moment = at("2026-12-08 10:00")
    tick(ctx, clock.moment)  # the first dossier is overdue: the watcher drafts its letter
    fresh = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Trần Văn Bình", phone="0987654321"),
        channel="in_person",
        officer_id=ids["sonv.motcua"],
        now=clock.moment,
    )
    slip = issue_counter_slip(
        ctx,
        kind="refusal",
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Lê Văn Minh"),
        missing=[],
        reason="Không thuộc thẩm quyền",
        officer_id=ids["sonv.motcua"],
        now=clock.moment,
    )
    draft = versions.new_draft_from_active(ctx, "1.001806", ids["sonv.quytrinh"], clock.moment)
    token = issue_token(ctx, officer, "kiểm thử đầu vào", LOADED_AT)
    with ctx.uow() as uow:
        s = uow.session
        letter_id = s.scalar(select(ApologyLetter.id).where(ApologyLetter.dossier_id == late.dossier_id))
        attachment_id = s.scalar(select(Attachment.id).where(Attachment.dossier_id == late.dossier_id))
        token_id = s.scalar(select(ApiToken.id).order_by(ApiToken.id.desc()))
        bpmn = s.scalar(select(ProcessVersion.bpmn_xml).where(ProcessVersion.id == draft.version_id))
        code = s.scalar(select(Dossier.code).where(Dossier.id == late.dossier_id))
    assert letter_id and attachment_id, "the seed needs a letter and an attachment"
    values = {
        "code": code,
        "item_id": open_items(ctx, fresh.dossier_id)[0].id,
        "letter_id": letter_id,
        "slip_id": slip.id,
        "version_id": draft.version_id,
        "attachment_id": attachment_id,
        "token_id": token_id,
        "form": "01",
        "static.filename": "app.css",
        "vendor.asset.filename": "bootstrap/dist/css/bootstrap.min.css",
    }
    return Site(
        {k: str(v) for k, v in values.items()},
        token,
        diagrams(bpmn or ""),
        api_bodies(app),
        app.view_functions,
    )


def diagrams(bpmn: str) -> list[bytes]:
    """The draft's diagram, and versions of it whose ids, lanes or hours no column can hold."""
    process_id = re.search(r'<bpmn:process id="([^"]+)"', bpmn)
    hostile = [
        bpmn.replace(process_id.group(1), "P" * 300) if process_id else bpmn,
        bpmn.replace("Task_Receive", "T" * 300),
        re.sub(r'hours="[^"]*"', 'hours="1e9"', bpmn, count=1),
        bpmn.replace("</bpmn:definitions>", "\x00</bpmn:definitions>"),
    ]
    return [text.encode() for text in [bpmn, *hostile]]


def api_bodies(app) -> dict[tuple[str, str], list[str]]:
    """The body fields of every API operation, as its OpenAPI document declares them."""
    doc = app.test_client().get(PREFIX + "/openapi.json").get_json()
    found = {}
    for rule in app.url_map.iter_rules():
        templated = PATH_PART.sub(lambda m: "{" + m.group(2) + "}", rule.rule.removeprefix(PREFIX))
        for method in methods_of(rule):
            body = doc["paths"].get(templated, {}).get(method.lower(), {}).get("requestBody")
            if rule.rule.startswith(PREFIX) and body:
                name = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                found[(rule.rule, method)] = list(doc["components"]["schemas"][name]["properties"])
    return found


def fields_of(view) -> tuple[str, ...]:
    """The query and form fields the view's module reads, from its source."""
    module = sys.modules[view.__module__]
    found = re.findall(r"""\.get(?:list)?\(\s*["'](\w+)["']""", inspect.getsource(module))
    return tuple(dict.fromkeys([*found, *SHARED_FIELDS]))


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def path_of(rule: Rule, values: dict[str, str]) -> str:
    """The rule with its parameters filled (percent-encoded, surrogates as the bytes a client sends)."""

    def fill(match: re.Match) -> str:
        raw = values[match.group(2)]
        return quote(raw.encode("utf-8", "surrogatepass"), safe="/" if match.group(1) == "path" else "")

    return PATH_PART.sub(fill, rule.rule)


def encoded(pairs: dict[str, Any]) -> str:
    """A query string or urlencoded body, byte for byte what a hostile client may send."""
    parts = []
    for name, value in pairs.items():
        for one in value if isinstance(value, list) else [value]:
            parts.append(f"{quote(name)}={quote(str(one).encode('utf-8', 'surrogatepass'), safe='')}")
    return "&".join(parts)


def browser_text(value: str) -> str:
    """What a browser puts in a multipart body: no lone surrogate survives UTF-8."""
    return value.encode("utf-8", "replace").decode("utf-8")


# ---------------------------------------------------------------------------
# requests


@dataclass(frozen=True)
class Attempt:
    """One request: path values, query, form or JSON body, an optional upload or raw body."""

    path: dict[str, str]
    query: dict[str, Any]
    form: dict[str, Any]
    upload: tuple[str, bytes] | None = None
    raw: bytes | None = None
    body: Any = None


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))


def json_value() -> st.SearchStrategy[Any]:
    scalar = st.one_of(
        hostile_text(),
        st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -0.0, True, None]),
    )
    return st.one_of(
        scalar,
        st.lists(scalar, max_size=3),
        st.dictionaries(hostile_text(), scalar, max_size=2),
    )


def attempts(rule: Rule, method: str, site: Site, view) -> st.SearchStrategy[Attempt]:
    """Mostly valid requests to the route with one to three hostile values in them."""
    names = [m.group(2) for m in PATH_PART.finditer(rule.rule)]
    path = st.fixed_dictionaries(
        {n: st.one_of(st.just(site.path_value(rule.endpoint, n)), st.sampled_from(HOSTILE)) for n in names}
    )
    api = rule.rule.startswith("/api/")
    fields = fields_for(rule, method, site, view)
    if method == "GET":
        base = {} if api else VALID_QUERY
        query = st.dictionaries(st.sampled_from(fields), hostile_text(), max_size=2)
        return st.builds(Attempt, path, query.map(lambda q: base | q), st.just({}))
    if api:
        valid = site.api_body(rule, method)
        body = st.dictionaries(st.sampled_from([*fields, "unknown"]), json_value(), max_size=3)
        return st.builds(Attempt, path, st.just({}), st.just({}), body=body.map(lambda b: valid | b))
    form = st.dictionaries(
        st.sampled_from(fields), st.one_of(hostile_text(), st.lists(hostile_text(), max_size=3)), max_size=3
    )
    return st.builds(
        Attempt,
        path,
        st.just({}),
        form.map(lambda f: VALID_FORM | f),
        upload=st.none()
        | st.tuples(st.sampled_from(FILE_NAMES), st.sampled_from([*FILE_CONTENTS, *site.bpmn])),
        raw=st.none() | st.sampled_from([*RAW_BODIES, *site.bpmn]),
    )


def fields_for(rule: Rule, method: str, site: Site, view) -> list[str]:
    """The fields a hostile value may go into: the API's declared ones, else those the module reads."""
    if not rule.rule.startswith("/api/"):
        return list(fields_of(view))
    return list(API_QUERY) if method == "GET" else site.api_bodies.get((rule.rule, method), ["unknown"])


def sweep(rule: Rule, method: str, site: Site, value: str, index: int, fields: list[str]) -> list[Attempt]:
    """The explicit examples of one core value: in every path parameter, then in one field in turn of a
    request to something that exists."""
    names = [m.group(2) for m in PATH_PART.finditer(rule.rule)]
    valid_path = {n: site.path_value(rule.endpoint, n) for n in names}
    one = fields[index % len(fields)] if fields else "q"
    if rule.rule.startswith("/api/"):
        body = site.api_body(rule, method) if method != "GET" else None
        hostile = (body or {}) | {one: value} if method != "GET" else None
        query = {one: value} if method == "GET" else {}
        tried = [Attempt(valid_path, query, {}, body=hostile)]
    else:
        body = None
        form = VALID_FORM | {one: value} if method != "GET" else {}
        query = VALID_QUERY | {one: value} if method == "GET" else VALID_QUERY
        tried = [Attempt(valid_path, query, form)]
    if names:
        tried.append(Attempt({n: value for n in names}, {}, VALID_FORM if method != "GET" else {}, body=body))
    if method == "POST" and reads_files(rule, site):
        diagram = site.bpmn[index % len(site.bpmn)]
        tried.append(
            Attempt(valid_path, {}, VALID_FORM, upload=(FILE_NAMES[index % len(FILE_NAMES)], diagram))
        )
        tried.append(Attempt(valid_path, {}, {}, raw=diagram))
    return tried


def reads_files(rule: Rule, site: Site) -> bool:
    """Whether the route's module reads uploads or a raw body."""
    source = inspect.getsource(sys.modules[site.views[rule.endpoint].__module__])
    return any(marker in source for marker in ("request.files", "uploads_from_request", "get_data("))


def send(client, rule: Rule, method: str, attempt: Attempt, csrf: str | None, token: str | None):
    """Send the attempt as a browser or an API client would."""
    url = path_of(rule, attempt.path)
    if attempt.query:
        url += "?" + encoded(attempt.query)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(url, headers=headers)
    if rule.rule.startswith("/api/"):
        # json.dumps writes a lone surrogate as its escape, as a hostile client would.
        data = json.dumps(attempt.body if attempt.body is not None else {})
        return client.open(url, method=method, data=data, content_type="application/json", headers=headers)
    form = dict(attempt.form)
    if csrf:
        form["csrf_token"] = csrf
    if attempt.raw is not None and csrf:
        headers["X-CSRFToken"] = csrf
        return client.post(url, data=attempt.raw, content_type="application/xml", headers=headers)
    if attempt.upload is not None:
        multipart: dict[str, Any] = {
            k: [browser_text(x) for x in v] if isinstance(v, list) else browser_text(v)
            for k, v in form.items()
        }
        name, content = attempt.upload
        multipart["files"] = (io.BytesIO(content), name)
        multipart["file"] = (io.BytesIO(content), name)
        return client.post(url, data=multipart, content_type="multipart/form-data", headers=headers)
    return client.post(
        url, data=encoded(form), content_type="application/x-www-form-urlencoded", headers=headers
    )


def fuzz(
    client, rule: Rule, method: str, site: Site, view, csrf, token, generated: int, failures: list
) -> None:
    """Send the explicit examples, then `generated` drawn ones, to one route; record the first 500."""
    fields = fields_for(rule, method, site, view)

    @settings(
        max_examples=max(generated, 1),
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate] if generated else [Phase.explicit],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(attempt=attempts(rule, method, site, view))
    def run(attempt: Attempt) -> None:
        response = send(client, rule, method, attempt, csrf, token)
        assert response.status_code < 500, f"{method} {rule.rule} {response.status_code}: {attempt!r:.300}"

    for index, value in enumerate(CORE):
        for attempt in sweep(rule, method, site, value, index, fields):
            run = example(attempt=attempt)(run)
    try:
        run()
    except AssertionError as exc:
        failures.append(str(exc).splitlines()[0][:400])


def routes(app) -> list[tuple[Rule, str, Any]]:
    """Every route and method of the app, with its view."""
    return [
        (rule, method, app.view_functions[rule.endpoint])
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
        for method in methods_of(rule)
    ]


@pytest.mark.parametrize("who", ["officer", "anonymous"])
def test_no_route_answers_500_to_hostile_input(app, clock, who: str) -> None:
    site = seed(app, clock)
    web = WebClient(app)
    if who == "officer":
        assert web.login(FUZZ_OFFICER).status_code == 302
    csrf = web.csrf("/tra-cuu")
    failures: list[str] = []
    for rule, method, view in routes(app):
        if who == "officer" and (rule.endpoint in ANONYMOUS_ONLY or rule.endpoint in NOT_SIGNED_IN):
            continue
        token = site.token if who == "officer" else None
        generated = EXAMPLES if who == "officer" else 0
        fuzz(web.http, rule, method, site, view, csrf, token, generated, failures)
    assert not failures, f"{len(failures)} routes answered 500:\n" + "\n".join(failures)
    if who == "officer":
        assert web.get("/").status_code == 200, "the run stayed signed in"
