"""The head assigns in a real browser: on the "Phân công xử lý" step they pick a specialist, seeing
each one's open load, complete the step, and the specialist finds the dossier as their own.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from engine.runtime import dossiers as svc
from tests.conftest import Officers, at, open_items
from tests.test_browser import ARTIFACTS, page, pytestmark, server, sign_in  # noqa: F401 (fixtures)

APPLICANT = svc.Applicant(name="Nguyễn Thị Lan", id_number="001190012345", phone="0912345678")


def _received_and_forwarded(ctx, officers: Officers, when: str) -> tuple[str, int]:
    """A dossier the desk received and forwarded: (code, dossier id), the head's step open."""
    receipt = svc.receive_dossier(
        ctx,
        procedure_code="1.001806",
        applicant=APPLICANT,
        channel="in_person",
        officer_id=officers["sonv.motcua"],
        now=at(when),
    )
    (desk,) = open_items(ctx, receipt.dossier_id)
    svc.complete(ctx, desk.id, officers["sonv.motcua"], now=at(when).replace(minute=30))
    return receipt.code, receipt.dossier_id


def test_the_head_picks_a_specialist_with_their_load_and_the_specialist_finds_it_theirs(
    page,  # noqa: F811 (the fixture imported above)
    app,
    backend,
    clock,
) -> None:
    ctx = app.extensions["motcua"]
    officers = Officers(ctx)
    # Huy already holds one dossier, so the select shows who is busier.
    _, busy = _received_and_forwarded(ctx, officers, "2026-11-23 08:00")
    (head_step,) = open_items(ctx, busy)
    svc.complete(
        ctx,
        head_step.id,
        officers["sonv.truongphong"],
        now=at("2026-11-23 08:45"),
        assign_to=officers["sonv.chuyenvien2"],
    )
    code, dossier_id = _received_and_forwarded(ctx, officers, "2026-11-23 09:00")
    clock.moment = at("2026-11-23 10:00")

    sign_in(page, "sonv.truongphong")
    page.locator("#inbox tr", has_text=code).get_by_role("link", name="Xử lý").click()
    assert page.locator("#step-name").inner_text() == "Phân công xử lý"
    choices = page.locator("#assign_to option").all_inner_texts()
    assert choices == [
        "Để danh sách chung",
        "Lê Thị Thu Hà (0 việc đang xử lý)",
        "Phạm Quốc Huy (1 việc đang xử lý)",
    ]
    page.select_option("#assign_to", label="Lê Thị Thu Hà (0 việc đang xử lý)")
    page.screenshot(path=str(ARTIFACTS / f"assignment-{backend}-01-head-picks.png"), full_page=True)
    page.locator("#outcomes button").first.click()
    expect(page.locator("body")).to_contain_text(
        f"Đã hoàn thành bước xử lý hồ sơ {code} và giao cho Lê Thị Thu Hà."
    )

    sign_in(page, "sonv.chuyenvien1")
    page.goto("/?scope=mine")
    row = page.locator("#inbox tr", has_text=code)
    assert row.count() == 1
    assert re.search(r"Thẩm định hồ sơ.*Lê Thị Thu Hà", row.inner_text(), re.DOTALL)
    page.screenshot(path=str(ARTIFACTS / f"assignment-{backend}-02-specialist-inbox.png"), full_page=True)
    (item,) = open_items(ctx, dossier_id)
    assert item.assignee_id == officers["sonv.chuyenvien1"]
