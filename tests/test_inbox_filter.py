"""The inbox's procedure filter follows the open items even when its list is reused between views."""

from __future__ import annotations

from engine.runtime import dossiers as svc
from engine.runtime.inbox import officer_inbox
from tests.conftest import at

APPLICANT = svc.Applicant(name="Lê Văn Cường", phone="0912345678")


def test_the_filter_lists_a_procedure_as_soon_as_its_first_item_arrives(ctx, officers):
    desk = officers["xa.motcua"]
    now = at("2026-11-23 10:00")

    def receive(code: str, when: str) -> None:
        svc.receive_dossier(
            ctx, procedure_code=code, applicant=APPLICANT, channel="in_person", officer_id=desk, now=at(when)
        )

    receive("1.001193", "2026-11-23 08:00")
    first = officer_inbox(ctx, desk, now=now)
    again = officer_inbox(ctx, desk, now=now)  # the same open items: the list is reused
    assert (
        [code for _, code, _ in first.procedures] == [code for _, code, _ in again.procedures] == ["1.001193"]
    )
    receive("NA.3854", "2026-11-23 09:00")
    after = officer_inbox(ctx, desk, now=now)
    assert [code for _, code, _ in after.procedures] == ["1.001193", "NA.3854"]
    assert after.counts["all"] == first.counts["all"] + 1
