"""The main pages checked with axe-core (the npm package, from node_modules) in Debian's chromium,
each signed in as the officer who uses it: no serious or critical violation of WCAG 2.1 A/AA or of
axe's best practices.

axe is injected into the page by Playwright from node_modules/axe-core/axe.min.js; the app never
serves it. The browser context of this test alone bypasses the Content-Security-Policy for that
injected script (tests/test_browser.py checks the pages under the policy).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from config import PROJECT_ROOT
from engine.runtime import dossiers as svc
from tests.conftest import Officers, at, open_items
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, server  # noqa: F401 (fixture)

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None or not AXE.exists(),
    reason="Debian's chromium and `npm install` (axe-core) are set up by `make test`",
)


@pytest.fixture
def axe_page(server):  # noqa: F811 (the fixture imported above)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(
            base_url=server, locale="vi-VN", viewport={"width": 1366, "height": 900}, bypass_csp=True
        )
        tab = context.new_page()
        tab.set_default_timeout(15000)
        yield tab
        context.close()
        browser.close()


def sign_in(page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/dang-nhap")
    page.fill("#username", username)
    page.fill("#password", "motcua-demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def axe_violations(page) -> list[dict]:
    """axe's serious and critical violations on the page as it stands."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async () => {
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
          nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })) }));
        }"""
    )
    return [v for v in results if v["impact"] in BLOCKING]


def test_the_main_pages_have_no_serious_or_critical_axe_violations(axe_page, app, backend, clock) -> None:
    page = axe_page
    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Nguyễn Thị Lan", phone="0912345678"),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.complete(ctx, item.id, officers["sonv.motcua"], now=at("2026-11-23 09:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.complete(ctx, item.id, officers["sonv.truongphong"], now=at("2026-11-23 10:00"))
    (item,) = open_items(ctx, receipt.dossier_id)
    clock.moment = at("2026-11-23 11:00")

    found: dict[str, list[dict]] = {}

    def check(name: str, url: str, ready: str | None = None) -> None:
        page.goto(url)
        if ready:
            page.wait_for_selector(ready)
        page.screenshot(path=str(ARTIFACTS / f"a11y-{backend}-{name}.png"), full_page=True)
        found[name] = axe_violations(page)

    check("login", "/dang-nhap")
    check("citizen-lookup", f"/tra-cuu?ma={receipt.code}")
    page.fill("#last4", "5678")
    page.get_by_role("button", name="Tra cứu").click()
    page.wait_for_selector("#lookup-result")
    found["citizen-lookup-result"] = axe_violations(page)
    check("public-catalogue", "/thu-tuc?q=khai+sinh")
    check("public-procedure", "/thu-tuc/1.001806", "#canvas[data-rendered=true]")

    sign_in(page, "sonv.chuyenvien1")
    check("inbox", "/")
    check("task", f"/viec/{item.id}", "#outcomes")
    check("dossier", f"/ho-so/{receipt.code}", "#canvas[data-rendered=true]")

    sign_in(page, "sonv.motcua")
    check("desk-receive", "/mot-cua/tiep-nhan")

    sign_in(page, "sonv.lanhdao")
    check("overdue", "/xin-loi")
    check("dashboard", "/bao-cao/tong-quan", "#months[data-rendered=true]")

    sign_in(page, "sonv.quytrinh")
    check("processes", "/quy-trinh/")
    page.goto("/quy-trinh/1.001806")
    page.get_by_role("button", name="Tạo bản nháp từ phiên bản đang áp dụng").click()
    page.wait_for_selector("#canvas[data-ready=true]")
    found["editor"] = axe_violations(page)

    (ARTIFACTS / f"a11y-{backend}.json").write_text(json.dumps(found, ensure_ascii=False, indent=1))
    problems = [
        f"{name}: {v['id']} ({v['impact']}) {v['help']} at {', '.join(n['target'] for n in v['nodes'][:5])}"
        for name, violations in found.items()
        for v in violations
    ]
    assert len(found) == 13
    assert problems == [], "\n".join(problems)
