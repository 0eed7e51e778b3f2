"""The whole journey in a real browser: Debian's chromium driven by Playwright (never a downloaded one).

The desk receives a dossier and prints the receipt, the head assigns, the specialist appraises,
the leader approves, the clerk issues, the desk returns the result, and the citizen looks it up
and rates it. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is installed by `make test`"
)


@pytest.fixture
def server(app):
    """The app served on a free loopback port for the browser."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture
def page(server, backend):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = browser.new_context(
            base_url=server, locale="vi-VN", viewport={"width": 1366, "height": 900}
        )
        tab = context.new_page()
        tab.set_default_timeout(15000)
        yield tab
        context.close()
        browser.close()


@pytest.fixture
def csp_violations(page) -> list[str]:
    """What the browser's console says the Content-Security-Policy blocked on the pages visited."""
    found: list[str] = []

    def listen(message) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"{page.url}: {message.text}")

    page.on("console", listen)
    return found


def shot(page, name: str, backend: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"journey-{backend}-{name}.png"), full_page=True)


def sign_in(page, username: str) -> None:
    page.goto("/dang-nhap")
    if page.locator("form[action='/dang-xuat'] button").count():
        page.locator("form[action='/dang-xuat'] button").click()
        page.goto("/dang-nhap")
    page.fill("#username", username)
    page.fill("#password", "motcua-demo")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def work_step(page, code: str, button: str | None = None) -> None:
    """Open the dossier's row in the inbox and complete it with the named outcome."""
    page.goto("/")
    page.locator("#inbox tr", has_text=code).get_by_role("link", name="Xử lý").click()
    if button:
        page.locator("#outcomes").get_by_role("button", name=button).click()
    else:
        page.locator("#outcomes button").first.click()
    expect(page.locator("body")).to_contain_text("Đã hoàn thành bước xử lý")


def test_whole_journey_in_the_browser(page, backend, clock, csp_violations) -> None:
    from tests.conftest import at

    sign_in(page, "sonv.motcua")
    page.goto("/mot-cua/tiep-nhan")
    page.fill("#procedure_filter", "1.001806")
    page.select_option("#procedure_code", "1.001806")
    page.wait_for_selector("#checklist input[type=checkbox]")
    for box in page.locator("#checklist input[type=checkbox]").all():
        box.check()
    page.fill("#applicant_name", "Nguyễn Thị Lan")
    page.fill("#applicant_id_number", "001190012345")
    page.fill("#applicant_phone", "0912345678")
    page.fill("#applicant_address", "Số 1 Lê Lợi, TP Vinh")
    shot(page, "01-receive-form", backend)
    page.click("#receive-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/in/01$"))
    code = re.search(r"/ho-so/([^/]+)/in/01", page.url).group(1)
    assert "Giấy tiếp nhận hồ sơ và hẹn trả kết quả" in page.content()
    assert page.locator("#legal-form svg").count() == 1  # the QR code
    page.emulate_media(media="print")
    shot(page, "02-receipt-print", backend)
    page.emulate_media(media="screen")

    work_step(page, code)  # the desk forwards
    clock.moment = at("2026-11-23 10:00")
    sign_in(page, "sonv.truongphong")
    work_step(page, code)  # assignment
    sign_in(page, "sonv.chuyenvien1")
    page.goto("/")
    shot(page, "03-specialist-inbox", backend)
    clock.moment = at("2026-11-25 15:00")
    work_step(page, code, "Đạt, trình trưởng phòng")
    sign_in(page, "sonv.truongphong")
    work_step(page, code, "Trình lãnh đạo phê duyệt")
    sign_in(page, "sonv.lanhdao")
    page.goto("/")
    page.locator("#inbox tr", has_text=code).get_by_role("link", name="Xử lý").click()
    shot(page, "04-leader-task", backend)
    page.locator("#outcomes").get_by_role("button", name="Phê duyệt, ký số").click()
    page.wait_for_load_state()
    sign_in(page, "sonv.vanthu")
    work_step(page, code)

    sign_in(page, "sonv.motcua")
    page.goto(f"/ho-so/{code}")
    page.wait_for_selector("#canvas[data-rendered=true]")
    assert page.locator(".djs-element.step-done").count() >= 6
    assert page.locator(".djs-element.step-current").count() == 1
    shot(page, "05-dossier-page", backend)
    page.get_by_role("link", name="Trả kết quả", exact=True).click()
    page.fill("#collected_by", "Nguyễn Thị Lan")
    page.get_by_role("button", name="Xác nhận đã trả kết quả").click()
    page.wait_for_url(re.compile(rf".*/ho-so/{re.escape(code)}$"))
    assert page.locator("#dossier-status").inner_text() == "Đã trả kết quả"

    page.locator("form[action='/dang-xuat'] button").click()
    page.goto(f"/tra-cuu?ma={code}")
    page.fill("#last4", "5678")
    page.get_by_role("button", name="Tra cứu").click()
    assert "Đã trả kết quả" in page.locator("#lookup-result").inner_text()
    shot(page, "06-citizen-lookup", backend)
    page.check("#sat-yes")
    page.get_by_role("button", name="Gửi đánh giá").click()
    expect(page.locator("body")).to_contain_text("Cảm ơn ông/bà đã đánh giá")
    assert csp_violations == []


def test_process_owner_edits_submits_and_approver_activates(
    page, backend, app, clock, csp_violations
) -> None:
    from sqlalchemy import select

    from engine.runtime import dossiers as svc
    from models import Dossier, Officer, ProcessVersion
    from tests.conftest import at

    ctx = app.extensions["motcua"]
    with ctx.uow() as uow:
        desk = uow.session.scalar(select(Officer.id).where(Officer.username == "sonv.motcua"))
    applicant = svc.Applicant(name="Trần Văn Bình", phone="0987654321")
    earlier = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=applicant,
        channel="in_person",
        officer_id=desk,
        now=clock.moment,
    )

    sign_in(page, "sonv.quytrinh")
    page.goto("/quy-trinh/1.001806")
    page.get_by_role("button", name="Tạo bản nháp từ phiên bản đang áp dụng").click()
    page.wait_for_selector("#canvas[data-ready=true]")
    page.locator('[data-element-id="Task_Process"]').first.click()
    assert page.input_value("#f-hours") == "56"
    page.fill("#f-hours", "48")
    page.press("#f-hours", "Tab")
    # Waits through the locator, not wait_for_function: the policy forbids the eval that one needs.
    expect(page.locator("#total")).to_have_text(re.compile(r"^72"))
    page.click("#undo")
    assert page.input_value("#f-hours") == "56"
    page.click("#redo")
    assert page.input_value("#f-hours") == "48"
    shot(page, "07-editor", backend)
    # The modeler's align menu draws its icons with style attributes, allowed on the editor by hash.
    page.evaluate(
        """() => { const m = window.motcuaEditor.modeler; const r = m.get('elementRegistry');
        m.get('selection').select([r.get('Task_Process'), r.get('Task_Issue')]); }"""
    )
    page.locator(".djs-context-pad .entry[data-action='align-elements']").click()
    assert page.locator(".djs-popup .entry").count() == 6
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.djs-popup .entry svg rect')).fill") == "none"
    )
    shot(page, "07b-editor-align-menu", backend)
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    expect(page.locator("#save")).to_have_text(re.compile(r"^Đã lưu"))

    # A broken flow: the hand-over to the clerk is removed; the server names the stranded step.
    page.evaluate(
        """() => { const m = window.motcuaEditor.modeler; const r = m.get('elementRegistry');
        const flow = r.filter(e => e.type === 'bpmn:SequenceFlow' && e.businessObject.targetRef.id === 'Task_Issue')[0];
        m.get('modeling').removeElements([flow]); }"""
    )
    page.wait_for_selector("#problems li[data-element-id='Task_Issue']")
    shot(page, "08-editor-problem", backend)
    page.locator("#problems li[data-element-id='Task_Issue']").first.click()
    selected = page.evaluate("() => window.motcuaEditor.modeler.get('selection').get().map(e => e.id)")
    assert selected == ["Task_Issue"]
    page.click("#undo")
    expect(page.locator("#problem-count")).to_have_text("0")
    page.keyboard.press("Control+s")
    expect(page.locator("#save")).to_have_text(re.compile(r"^Đã lưu$"))

    page.locator("h1 a").click()
    page.get_by_role("button", name="Trình phê duyệt").click()
    expect(page.locator("#version-status")).to_contain_text("Chờ phê duyệt")
    version_url = page.url

    sign_in(page, "vp.pheduyet")
    page.goto(version_url)
    page.get_by_role("button", name="Phê duyệt và áp dụng").click()
    expect(page.locator("body")).to_contain_text("Chưa nhập số quyết định")
    page.fill("#decision_number", "125/QĐ-UBND")
    page.fill("#decision_date", "2026-11-20")
    page.get_by_role("button", name="Phê duyệt và áp dụng").click()
    page.get_by_role("button", name="Xác nhận phê duyệt và áp dụng").click()
    expect(page.locator("body")).to_contain_text("Đã phê duyệt")
    shot(page, "09-approved", backend)

    later = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=applicant,
        channel="online",
        officer_id=desk,
        now=at("2026-11-23 09:00"),
    )
    with ctx.uow() as uow:
        numbers = {
            code: uow.session.scalar(
                select(ProcessVersion.number)
                .join(Dossier, Dossier.process_version_id == ProcessVersion.id)
                .where(Dossier.code == code)
            )
            for code in (earlier.code, later.code)
        }
    assert numbers[earlier.code] == 1 and numbers[later.code] == 2
    # The earlier dossier goes on with its own version's steps.
    svc.complete(ctx, earlier.work_item_ids[0], desk, now=at("2026-11-23 09:30"))
    assert csp_violations == []


def test_a_late_dossier_with_a_letter_shows_late_on_its_page_and_in_biểu_06(
    page, backend, app, clock, csp_violations
) -> None:
    """The leader signs the letter in the browser; the result, ready before the new appointment but
    after the legal due time, shows late with letter on the dossier page and in Biểu 06."""
    from engine.deadlines.watcher import tick
    from engine.runtime import dossiers as svc
    from tests.conftest import Officers, at, open_items

    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Phạm Văn Đức", phone="0911222333"),
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at("2026-11-23 08:00"),
    )

    def step(who: str, when: str, outcome: str | None = None) -> None:
        (item,) = open_items(ctx, receipt.dossier_id)
        svc.complete(ctx, item.id, officers[who], now=at(when), outcome=outcome)

    step("sonv.motcua", "2026-11-23 09:00")
    step("sonv.truongphong", "2026-11-23 10:00")
    tick(ctx, at("2026-12-09 09:00"))  # legally due 8/12 08:00: the draft letter is raised

    clock.moment = at("2026-12-09 10:00")
    sign_in(page, "sonv.lanhdao")
    page.goto("/xin-loi")
    page.locator("#overdue tr", has_text=receipt.code).get_by_role("link", name="Dự thảo").click()
    page.fill("#new_due_date", "2026-12-15")
    page.fill("#new_due_time", "17:00")
    page.get_by_role("button", name="Lưu dự thảo").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Ký phát hành (Thủ trưởng cơ quan)").click()
    page.wait_for_url(re.compile(r".*/xin-loi/\d+/in$"))
    assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT" in page.content()

    step("sonv.chuyenvien1", "2026-12-10 08:00", "forward")
    step("sonv.truongphong", "2026-12-10 09:00", "submit")
    step("sonv.lanhdao", "2026-12-10 10:00", "approve")
    step("sonv.vanthu", "2026-12-11 10:00")  # ready four days before the new appointment

    clock.moment = at("2026-12-11 11:00")
    page.goto(f"/ho-so/{receipt.code}")
    legal = page.locator("#legal-due").inner_text()
    assert "08/12/2026 08:00" in legal
    assert "Trễ hạn từ 08/12/2026 08:00, đã có phiếu xin lỗi" in legal
    assert "15/12/2026 17:00" in page.locator("#appointment").inner_text()
    assert "Quá hạn" in page.locator("#result").inner_text()
    shot(page, "10-late-with-letter", backend)

    page.goto("/bao-cao/?period=2026-12")
    total = page.locator("#report tbody tr").last
    assert total.locator("[data-column='resolved_late']").inner_text() == "1"
    assert total.locator("[data-column='resolved_late_letter']").inner_text() == "1"
    assert total.locator("[data-column='resolved_early']").count() == 0  # printed as 0, not a link
    shot(page, "11-bieu-06-late-with-letter", backend)
    assert csp_violations == []


def test_diagram_charts_print_and_filter_work_under_the_content_security_policy(
    page, backend, app, clock, csp_violations
) -> None:
    """No inline script is left: the dossier's diagram, the dashboard's charts, the print button and
    the procedure filter run from web/static, and the console reports nothing the policy blocked."""
    from engine.runtime import dossiers as svc
    from tests.conftest import Officers, open_items

    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Đỗ Thị Hoa", phone="0977111222"),
        channel="online",
        officer_id=officers["sonv.motcua"],
        now=clock.moment,
    )
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.complete(ctx, item.id, officers["sonv.motcua"], now=clock.moment)

    sign_in(page, "sonv.motcua")
    page.goto("/mot-cua/tiep-nhan")
    page.fill("#procedure_filter", "1.001806")
    assert page.locator("#procedure_code option:not([hidden])").all_inner_texts() == [
        page.locator("#procedure_code option[value='1.001806']").inner_text()
    ]
    page.goto(f"/ho-so/{receipt.code}")
    page.wait_for_selector("#canvas[data-rendered=true]")
    assert page.locator(".djs-element.step-done").count() >= 1
    assert page.locator(".djs-element.step-current").count() == 1
    legend = page.evaluate("getComputedStyle(document.querySelector('.legend-done')).backgroundColor")
    assert legend == "rgb(209, 231, 221)"
    shot(page, "12-dossier-diagram-under-csp", backend)
    page.goto(f"/ho-so/{receipt.code}/in/01")
    page.evaluate("() => { window.print = () => { document.body.dataset.printed = 'yes'; }; }")
    page.get_by_role("button", name="In phiếu (khổ A5)").click()
    assert page.locator("body[data-printed=yes]").count() == 1

    sign_in(page, "sonv.lanhdao")
    page.goto("/bao-cao/tong-quan")
    page.wait_for_selector("#months[data-rendered=true]")
    labels = page.evaluate("() => Chart.getChart('weeks').data.datasets.map((d) => d.label)")
    assert labels == ["Trực tiếp", "Trực tuyến", "Bưu chính"]
    assert page.evaluate("() => Chart.getChart('weeks').data.datasets[1].data.at(-1)") == 1
    shot(page, "13-dashboard-under-csp", backend)
    assert csp_violations == []
