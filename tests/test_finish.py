"""The finish of the officers' pages: the progress beside the diagram, the current page marked in the
menu, levels and roles in Vietnamese, the editor's tooltips in Vietnamese, a favicon, form 06 on one
A4 landscape page, and the citizen's lookup that accepts any case and survives a rating error.

Browser tests drive Debian's chromium (as tests/test_browser.py does) and save screenshots under
test-artifacts/.
"""

from __future__ import annotations

import re
import shutil

import pytest

from engine.runtime import dossiers as svc
from tests.conftest import Officers, at, open_items
from tests.test_browser import ARTIFACTS, CHROMIUM, FLAGS, server, sign_in  # noqa: F401 (fixture)

needs_chromium = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason="Debian's chromium is installed by `make test`"
)

# Who works each step of 1.001806 in the demo agency, and the outcome chosen there.
WORKERS = {
    "Task_Receive": ("sonv.motcua", None),
    "Task_Assign": ("sonv.truongphong", None),
    "Task_Process": ("sonv.chuyenvien1", "forward"),
    "Task_Review": ("sonv.truongphong", "submit"),
    "Task_Approve": ("sonv.lanhdao", "approve"),
    "Task_Issue": ("sonv.vanthu", None),
}


def received(ctx, when: str = "2026-11-23 08:00", phone: str = "0912345678") -> svc.Receipt:
    """A 1.001806 dossier received at the Sở's desk."""
    return svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=svc.Applicant(name="Nguyễn Thị Lan", phone=phone),
        channel="in_person",
        officer_id=Officers(ctx)["sonv.motcua"],
        now=at(when),
    )


def work_until(
    ctx, dossier_id: int, stop: str, start: str = "2026-11-23", reworks: int = 0, leader_reworks: int = 0
) -> None:
    """Complete the dossier's steps in order, one working hour apart, until `stop` is open; the
    head sends the appraisal back `reworks` times, and the leader `leader_reworks` times."""
    officers = Officers(ctx)
    hour = 9
    day = int(start[-2:])
    while True:
        (item,) = open_items(ctx, dossier_id)
        if item.task_id == stop:
            return
        who, outcome = WORKERS[item.task_id]
        if item.task_id == "Task_Review" and reworks:
            outcome, reworks = "rework", reworks - 1
        if item.task_id == "Task_Approve" and leader_reworks:
            outcome, leader_reworks = "rework", leader_reworks - 1
        svc.complete(
            ctx,
            item.id,
            officers[who],
            now=at(f"{start[:-2]}{day:02d} {hour:02d}:00"),
            outcome=outcome,
            **({"comment": "Bổ sung phần thẩm định"} if outcome == "rework" else {}),
        )
        hour += 1
        if hour > 16:
            hour, day = 8, day + 1


def returned(ctx) -> str:
    """A 1.001806 dossier worked to the end and handed back; its code."""
    receipt = received(ctx)
    work_until(ctx, receipt.dossier_id, "Task_Return")
    (item,) = open_items(ctx, receipt.dossier_id)
    svc.return_result(
        ctx, item.id, Officers(ctx)["sonv.motcua"], collected_by="Nguyễn Thị Lan", now=at("2026-11-24 15:00")
    )
    return receipt.code


# ---------------------------------------------------------------------------
# without a browser


def test_the_favicon_is_served_at_favicon_ico_and_linked_from_every_page(web) -> None:
    icon = web.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).lstrip().startswith("<svg")
    login = web.get("/dang-nhap").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in login
    assert web.get("/static/favicon.svg").status_code == 200
    assert "no-store" not in icon.headers["Cache-Control"]  # the same for everybody: cached


def test_levels_and_roles_have_one_vietnamese_name_each() -> None:
    from engine.statistics.reports import LEVEL_LABELS
    from models.catalogue import AGENCY_LEVELS
    from models.vocabulary import Level
    from web.filters import level_label, role_label

    assert Level.labels() == LEVEL_LABELS and Level.values() == AGENCY_LEVELS
    assert [level_label(v) for v in ("province", "department", "commune")] == [
        "Cấp tỉnh",
        "Cấp sở, ngành",
        "Cấp xã",
    ]
    assert role_label("specialist") == "Chuyên viên" and role_label("head") == "Lãnh đạo phòng"


def test_the_menu_marks_the_current_page_and_only_that_one(web, app) -> None:
    code = received(app.extensions["motcua"]).code
    web.login("sonv.motcua")

    def current(url: str) -> list[str]:
        html = web.get(url).get_data(as_text=True)
        return re.findall(r'<a class="nav-link" href="[^"]*" aria-current="page">([^<]+)</a>', html)

    assert current("/") == ["Hộp việc"]
    assert current("/mot-cua/tiep-nhan") == ["Tiếp nhận hồ sơ"]
    assert current(f"/ho-so/{code}") == ["Tra cứu hồ sơ"]  # a dossier belongs to the dossiers
    assert current("/xin-loi") == ["Quá hạn, xin lỗi"]


def test_levels_are_named_in_vietnamese_on_the_procedure_list(web) -> None:
    web.login("sonv.quytrinh")
    html = web.get("/quy-trinh/").get_data(as_text=True)
    assert "Cấp sở, ngành" in html or "Cấp tỉnh" in html
    assert not re.search(r"<td>(province|department|district|commune)</td>", html)


def test_a_lookup_finds_the_code_in_lower_case_and_with_spaces_around_it(web, app) -> None:
    code = received(app.extensions["motcua"]).code
    found = web.post("/tra-cuu", {"code": f"  {code.lower()}  ", "last4": "5678"})
    assert found.status_code == 200
    html = found.get_data(as_text=True)
    assert 'id="lookup-result"' in html and code in html and "Đang giải quyết" in html
    # Through the printed receipt's link too (?ma=), in any case.
    assert f'value="{code.lower()}"' in web.get(f"/tra-cuu?ma={code.lower()}").get_data(as_text=True)


def test_a_rating_error_shows_its_message_and_the_next_lookup_still_works(web, app, clock) -> None:
    code = returned(app.extensions["motcua"])
    clock.moment = at("2026-11-25 09:00")
    unhappy = web.post("/tra-cuu/danh-gia", {"code": code, "last4": "5678", "satisfied": "no", "reason": " "})
    assert unhappy.status_code == 422
    html = unhappy.get_data(as_text=True)
    assert "Vui lòng cho biết lý do chưa hài lòng." in html
    # The dossier is shown again with its rating form, and the lookup form still posts to the lookup.
    assert 'id="lookup-result"' in html and 'id="rating-form"' in html
    assert '<form method="post" action="/tra-cuu" class="card card-body mb-3" id="lookup-form"' in html

    wrong = web.post("/tra-cuu/danh-gia", {"code": code, "last4": "0000", "satisfied": "yes"})
    assert wrong.status_code == 404
    assert 'action="/tra-cuu"' in wrong.get_data(as_text=True)
    assert 'id="lookup-result"' not in wrong.get_data(as_text=True)

    again = web.post("/tra-cuu", {"code": code, "last4": "5678"})
    assert again.status_code == 200 and "Đã trả kết quả" in again.get_data(as_text=True)
    rated = web.post(
        "/tra-cuu/danh-gia", {"code": code, "last4": "5678", "satisfied": "no", "reason": "Chờ lâu"}
    )
    assert rated.status_code == 302


def test_the_control_sheet_names_a_pool_by_its_role_and_points_at_the_step(ctx) -> None:
    from engine.runtime.control_sheet import control_sheet
    from models import Dossier

    receipt = received(ctx)
    work_until(ctx, receipt.dossier_id, "Task_Process")
    with ctx.uow() as uow:
        rows = control_sheet(uow.session, uow.session.get_one(Dossier, receipt.dossier_id))
    assert [r.step_id for r in rows] == ["Task_Receive", "Task_Assign", "Task_Process"]
    assert [r.current for r in rows] == [False, False, True]
    assert rows[-1].due_at is not None
    assert not re.search(r"\((desk|head|specialist|leader|clerk)\)", " ".join(r.to_officer for r in rows))


# ---------------------------------------------------------------------------
# in the browser


@pytest.fixture
def page(server, backend):  # noqa: F811 (the fixture imported above)
    """A chromium tab on the app, as in tests/test_browser.py."""
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


@needs_chromium
def test_the_dossier_page_lists_the_steps_beside_a_readable_diagram_with_zoom(
    page, backend, app, clock
) -> None:
    ctx = app.extensions["motcua"]
    receipt = received(ctx)
    work_until(ctx, receipt.dossier_id, "Task_Review", reworks=0)
    clock.moment = at("2026-11-24 10:00")
    sign_in(page, "sonv.truongphong")
    page.goto(f"/ho-so/{receipt.code}")
    page.wait_for_selector("#canvas[data-rendered=true]")

    steps = page.locator("#steps > li")
    assert steps.count() == 4
    first = steps.nth(0).inner_text()
    assert "Tiếp nhận, số hóa, ký số và chuyển hồ sơ" in first and "Nhận 23/11/2026 08:00" in first
    assert "xong 23/11/2026 09:00" in first and "Được giao" in first and "đã dùng 1 giờ" in first
    now = page.locator("#steps > li[aria-current=step]")
    assert now.count() == 1
    assert "Xem xét, trình lãnh đạo" in now.inner_text() and "đang xử lý" in now.inner_text()
    assert "Trước hạn" in page.locator("#steps").inner_text()

    def label_px(element_id: str) -> float:
        return page.evaluate(
            """(id) => document.querySelector(`[data-element-id="${id}"] .djs-visual text`)
            .getBoundingClientRect().height""",
            element_id,
        )

    def in_view(element_id: str) -> bool:
        return page.evaluate(
            """(id) => { const c = document.getElementById('canvas').getBoundingClientRect();
            const r = document.querySelector(`[data-element-id="${id}"]`).getBoundingClientRect();
            return r.left >= c.left && r.right <= c.right && r.top >= c.top && r.bottom <= c.bottom; }""",
            element_id,
        )

    assert label_px("Task_Review") >= 10, "labels must be readable at the default zoom"
    assert in_view("Task_Review")
    page.locator("#canvas").scroll_into_view_if_needed()
    page.locator("#progress").screenshot(path=str(ARTIFACTS / f"finish-{backend}-progress.png"))
    scale = float(page.locator("#canvas").get_attribute("data-scale"))
    page.click("#zoom-in")
    page.click("#zoom-in")
    zoomed = float(page.locator("#canvas").get_attribute("data-scale"))
    assert zoomed > scale * 1.5 and in_view("Task_Review")
    page.locator("#progress").screenshot(path=str(ARTIFACTS / f"finish-{backend}-progress-zoomed.png"))
    page.click("#zoom-fit")
    page.click("#zoom-out")
    assert float(page.locator("#canvas").get_attribute("data-scale")) < zoomed
    assert in_view("Task_Review")
    # A step of the list is found in the diagram.
    page.locator("#steps .step-focus", has_text="Phân công xử lý").click()
    assert in_view("Task_Assign")
    assert page.locator(".djs-element.step-selected[data-element-id=Task_Assign]").count() == 1
    # On a narrow screen the list goes under the diagram.
    page.set_viewport_size({"width": 600, "height": 900})
    box_canvas = page.locator("#canvas").bounding_box()
    box_steps = page.locator("#steps").bounding_box()
    assert box_steps["y"] >= box_canvas["y"] + box_canvas["height"]


@needs_chromium
def test_the_menu_reads_at_aa_contrast_and_marks_the_current_page(page, backend) -> None:
    sign_in(page, "sonv.motcua")
    page.goto("/mot-cua/tiep-nhan")
    link = page.locator("nav a.nav-link[aria-current=page]")
    assert link.inner_text() == "Tiếp nhận hồ sơ"
    assert link.evaluate("(a) => getComputedStyle(a).textDecorationLine") == "underline"
    colours = page.evaluate(
        """() => { const nav = document.querySelector('nav.navbar');
        const link = nav.querySelector('a.nav-link:not([aria-current])');
        return [getComputedStyle(nav).backgroundColor, getComputedStyle(link).color]; }"""
    )

    def luminance(css: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])
        return sum(
            w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
            for w, c in zip((0.2126, 0.7152, 0.0722), (r, g, b), strict=True)
        )

    back, fore = (luminance(c) for c in colours)
    ratio = (max(back, fore) + 0.05) / (min(back, fore) + 0.05)
    assert ratio >= 4.5, f"navbar links at {ratio:.2f}:1"
    page.locator("nav.navbar").screenshot(path=str(ARTIFACTS / f"finish-{backend}-navbar.png"))


@needs_chromium
def test_form_06_prints_on_one_a4_landscape_page_for_a_dozen_steps(page, backend, app, clock) -> None:
    ctx = app.extensions["motcua"]
    receipt = received(ctx)
    work_until(ctx, receipt.dossier_id, "Task_Return", reworks=1, leader_reworks=1)
    sign_in(page, "sonv.motcua")
    page.goto(f"/ho-so/{receipt.code}/in/06")
    assert page.locator("#legal-form tbody tr").count() == 12
    assert page.get_by_role("button", name="In phiếu (khổ A4 ngang)").count() == 1
    page.emulate_media(media="print")
    page.screenshot(path=str(ARTIFACTS / f"finish-{backend}-form-06-print.png"), full_page=True)
    pdf = page.pdf(prefer_css_page_size=True, print_background=True)
    (ARTIFACTS / f"finish-{backend}-form-06.pdf").write_bytes(pdf)
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf)
    assert len(pages) == 1, f"{len(pages)} pages"
    width, height = (float(v) for v in re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", pdf).groups())
    assert (round(width), round(height)) == (842, 595)  # A4 landscape in points

    # The other forms keep their A5 page.
    page.goto(f"/ho-so/{receipt.code}/in/01")
    receipt_pdf = page.pdf(prefer_css_page_size=True)
    width, height = (
        float(v) for v in re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", receipt_pdf).groups()
    )
    assert (round(width), round(height)) == (420, 595)


@needs_chromium
def test_the_editor_speaks_vietnamese_in_its_tooltips_and_menus(page, backend) -> None:
    sign_in(page, "sonv.quytrinh")
    page.goto("/quy-trinh/1.001806")
    page.get_by_role("button", name="Tạo bản nháp từ phiên bản đang áp dụng").click()
    page.wait_for_selector("#canvas[data-ready=true]")
    titles = page.locator(".djs-palette .entry[role=button]").evaluate_all(
        "(es) => es.map((e) => e.getAttribute('aria-label'))"
    )
    assert "Thêm bước xử lý" in titles and "Thêm điểm quyết định" in titles
    assert not [t for t in titles if re.search(r"\b(Create|Activate)\b", t)], titles
    page.locator('[data-element-id="Task_Process"]').first.click()
    pad = page.locator(".djs-context-pad .entry").evaluate_all("(es) => es.map((e) => e.title)")
    assert "Xóa" in pad and "Nối bước xử lý" in pad
    assert not [t for t in pad if re.search(r"\b(Append|Delete|Connect|Change)\b", t)], pad
    page.hover(".djs-context-pad .entry[data-action='append.append-task']")
    page.screenshot(path=str(ARTIFACTS / f"finish-{backend}-editor-vi.png"))
    page.locator(".djs-context-pad .entry[data-action='replace']").click()
    entries = page.locator(".djs-popup .entry").all_inner_texts()
    assert "Bước xử lý" in entries and "Bước gửi tin" in entries
    assert not [e for e in entries if re.search(r"\b(task|Task|process|event)\b", e)], entries
    page.screenshot(path=str(ARTIFACTS / f"finish-{backend}-editor-vi-menu.png"))
