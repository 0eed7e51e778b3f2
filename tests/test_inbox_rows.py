"""The inbox's rows written by the view (`web.inbox.inbox_lines`) are the markup the template's loop
wrote, byte for byte, whatever the text read from the database holds; its dates are the `local`
filter's; its own links are url_for's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import formatting
from engine.runtime.inbox import InboxRow
from web.inbox import BADGE_COLOURS, inbox_lines, inbox_urls, local_minute

# The row markup inbox_rows.html looped over before the view wrote it (with the view's former
# `inbox_lines` tuples), kept here as the reference the written rows must equal.
TEMPLATE_ROWS = """\
{%- for row in rows %}
    <tr class="urgency-{{ row.urgency }}">
      <td>{% if not row.assignee_id %}<input class="form-check-input" type="checkbox" name="item" \
value="{{ row.work_item_id }}" aria-label="Chọn {{ row.dossier_code }}">{% endif %}</td>
      <td><a href="{{ url_for('inbox.task', item_id=row.work_item_id) }}" class="font-monospace">\
{{ row.dossier_code }}</a></td>
      <td title="{{ row.procedure_name }}">{{ row.procedure_name|truncate(48) }}</td>
      <td>{{ row.step }}</td>
      <td>{{ row.received_at|local }}</td>
      <td>{{ row.due_at|local if row.due_at else '—' }}</td>
      <td>
<span class="badge text-bg-{{ colours[row.urgency] }} remaining remaining-{{ row.urgency }}" \
title="{{ Urgency.labels().get(row.urgency, '') }}">{{ row.remaining_hours|working_time }}</span></td>
      <td>{{ row.assignee_name or 'Chưa có' }}</td>
      <td class="text-end">
        <a class="btn btn-sm btn-primary" href="{{ url_for('inbox.task', item_id=row.work_item_id) }}">Xử lý</a>
      </td>
    </tr>
  {% endfor %}"""

AWKWARD = ["", "a & b", "<script>alert('x')</script>", 'say "hi"', "Thủ tục đất đai — cấp lần đầu"]
MOMENT = datetime(2026, 11, 23, 7, 45, tzinfo=UTC)


def _row(number: int, urgency: str, text: str, *, pooled: bool) -> InboxRow:
    return InboxRow(
        work_item_id=1000 + number,
        dossier_code=f"H01.{number}-{text}",
        procedure_code="1.001193",
        procedure_name=(text + " thủ tục hành chính có một cái tên rất dài để bị cắt bớt ") * (number % 3),
        step=f"Bước {text}",
        kind=None,
        role="desk",
        received_at=MOMENT - timedelta(days=number, minutes=7 * number),
        created_at=MOMENT,
        due_at=None if urgency == "paused" else MOMENT + timedelta(hours=5 * number - 40),
        assignee_id=None if pooled else 7,
        assignee_name=None if pooled else f"Nguyễn Văn {text}",
        remaining_hours=None if urgency == "paused" else 2.5 * number - 20,
        urgency=urgency,
    )


def test_the_written_rows_are_the_template_loop_byte_for_byte(app) -> None:
    rows = [
        _row(number, urgency, text, pooled=number % 2 == 0)
        for number, (urgency, text) in enumerate(
            (urgency, text) for urgency in BADGE_COLOURS for text in AWKWARD
        )
    ]
    with app.test_request_context("/"):
        expected = app.jinja_env.from_string(TEMPLATE_ROWS).render(rows=rows, colours=BADGE_COLOURS)
        written = str(inbox_lines(rows))
    assert written == expected
    assert "<script>" not in written and "&lt;script&gt;alert(&#39;x&#39;)" in written
    assert 'title="say &#34;hi&#34; thủ tục' in written and "<td>Bước say &#34;hi&#34;</td>" in written


def test_no_row_writes_nothing(app) -> None:
    with app.test_request_context("/"):
        assert str(inbox_lines([])) == ""


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)))
def test_local_minute_is_the_local_filter(moment: datetime) -> None:
    from zoneinfo import ZoneInfo

    for tz in (ZoneInfo("Asia/Ho_Chi_Minh"), ZoneInfo("Europe/Paris"), UTC):
        assert local_minute(moment, tz) == formatting.in_zone(moment, tz)


def test_the_inbox_links_are_url_fors(app) -> None:
    from flask import url_for

    for base_url in ("http://localhost", "http://localhost/motcua", "https://mot-cua.example/tinh"):
        with app.test_request_context("/", base_url=base_url):
            links = inbox_urls()
            for endpoint, values in (
                ("inbox.index", {}),
                ("inbox.index", {"scope": "mine", "status": None, "procedure": None}),
                ("inbox.index", {"scope": "all", "status": "overdue", "procedure": 3, "page": 2}),
                ("inbox.index", {"scope": "a&b", "status": "x y", "procedure": None, "page": 9}),
                ("inbox.bulk_claim", {}),
                ("static", {"filename": "app.css"}),
                ("vendor.asset", {"filename": "htmx.org/dist/htmx.min.js"}),
                ("inbox.index", {"_external": True}),
                ("inbox.index", {"item": [3, 4]}),
            ):
                for _ in range(2):  # built, then looked up
                    assert links(endpoint, **values) == url_for(endpoint, **values)
