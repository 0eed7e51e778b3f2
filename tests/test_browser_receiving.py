"""Receiving in one step in a real browser (Debian's chromium through Playwright): the desk sees only
its own procedures, sees the appointment before saving, gets every field problem at once, receives
and forwards with one button, and prints form 01 on one A5 page with 10 documents.
Screenshots and the PDF go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from engine.catalogue.loader import load_all
from tests.conftest import at
from tests.test_browser import ARTIFACTS, page, pytestmark, server, sign_in  # noqa: F401 (fixtures)

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
# Ten documents as long as real checklists get, for the one-page receipt.
TEN_DOCUMENTS = [
    f"Tài liệu số {n}: bản sao có chứng thực giấy tờ chứng minh điều kiện của cơ sở sản xuất, kinh doanh "
    "sử dụng người lao động là người khuyết tật"
    for n in range(1, 11)
]


def _ten_documents_for_1_001806(ctx, tmp_path: Path) -> None:
    """Load a catalogue whose 1.001806 lists ten documents (the loader, as `motcua load` would)."""
    folder = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, folder)
    catalogue = folder / "bpmn" / "catalogue.toml"
    text = catalogue.read_text(encoding="utf-8")
    start = text.index("required_documents = [")
    end = text.index("]", start) + 1
    listed = "required_documents = [\n" + "".join(f'    "{d}",\n' for d in TEN_DOCUMENTS) + "]"
    catalogue.write_text(text[:start] + listed + text[end:], encoding="utf-8")
    load_all(ctx, at("2026-11-20 08:00"), workflows_dir=folder)


def pdf_pages(pdf: bytes) -> int:
    """The pages of a PDF: its /Type /Page objects (not the /Pages tree)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def shot(tab, name: str, backend: str) -> None:
    tab.screenshot(path=str(ARTIFACTS / f"receiving-{backend}-{name}.png"), full_page=True)


def test_the_desk_receives_and_forwards_in_one_step_and_prints_one_a5_page(
    page,  # noqa: F811
    app,
    backend,
    tmp_path,
) -> None:
    _ten_documents_for_1_001806(app.extensions["motcua"], tmp_path)
    sign_in(page, "sonv.motcua")
    page.goto("/mot-cua/tiep-nhan")
    offered = page.locator("#procedure_code option").evaluate_all("options => options.map(o => o.value)")
    assert offered == ["1.001806"]  # neither the commune's birth registration nor NA.3854
    page.select_option("#procedure_code", "1.001806")
    page.wait_for_selector("#checklist input[type=checkbox]")
    page.wait_for_selector("#appointment-at")
    assert page.locator("#appointment").inner_text().startswith("Hẹn trả kết quả: 08:00 ngày 08/12/2026")
    page.fill("#applicant_name", "Nguyễn Thị Lan")
    page.fill("#applicant_address", "Số 1 Lê Lợi, phường Trường Thi, thành phố Vinh, tỉnh Nghệ An")
    shot(page, "01-form-with-appointment", backend)

    page.get_by_role("button", name="Tiếp nhận", exact=True).click()
    page.wait_for_selector("#error-summary")
    assert "Chưa đánh dấu thành phần hồ sơ" in page.locator("#documents-error").inner_text()
    assert "Cần số điện thoại hoặc số định danh" in page.locator("#contact-error").inner_text()
    assert page.input_value("#applicant_name") == "Nguyễn Thị Lan"  # what was typed is kept
    shot(page, "02-every-problem-at-once", backend)

    for box in page.locator("#checklist input[type=checkbox]").all():
        box.check()
    page.check("#no_contact")
    page.get_by_role("button", name="Tiếp nhận và chuyển xử lý").click()
    page.wait_for_url(re.compile(r".*/in/01$"))
    code = re.search(r"/ho-so/([^/]+)/in/01", page.url).group(1)
    assert f"Đã tiếp nhận hồ sơ {code} và chuyển xử lý" in page.content()
    assert page.locator("#documents-received li").count() == 10
    assert "chỉ bằng mã hồ sơ" in page.locator("#lookup-line").inner_text()
    shot(page, "03-receipt", backend)

    pdf = page.pdf(format="A5", prefer_css_page_size=True)
    (ARTIFACTS / f"receiving-{backend}-form-01.pdf").write_bytes(pdf)
    assert pdf_pages(pdf) == 1

    sign_in(page, "sonv.truongphong")
    page.goto("/")
    assert page.locator("#inbox tr", has_text=code).count() == 1  # forwarded: waiting for the head
    shot(page, "04-heads-inbox", backend)
