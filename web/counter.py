"""Forms 02 and 03 at the counter: the desk hands an applicant a supplement slip or a refusal slip
without receiving the dossier (no dossier code is drawn), and prints it again later."""

from __future__ import annotations

import uuid

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from engine.errors import DomainError
from engine.runtime.counter import counter_slip_form, issue_counter_slip, recent_counter_slips
from engine.runtime.desk import receive_form
from engine.runtime.dossiers import Applicant
from web.helpers import engine_ctx, now, officer, request_uow, roles_required

bp = Blueprint("counter", __name__, url_prefix="/mot-cua/phieu-tai-quay")


def applicant_from(values: dict[str, str]) -> Applicant:
    """The applicant's details as typed in a desk form."""
    return Applicant(
        name=values.get("applicant_name", "").strip(),
        id_number=values.get("applicant_id_number", "").strip() or None,
        phone=values.get("applicant_phone", "").replace(" ", "").strip() or None,
        email=values.get("applicant_email", "").strip() or None,
        address=values.get("applicant_address", "").strip() or None,
    )


@bp.route("/", methods=["GET", "POST"])
@roles_required("desk")
def issue():
    """Issue a supplement slip (form 02) or a refusal slip (form 03) without receiving the dossier."""
    errors: dict[str, str] = {}
    values = (
        request.form.to_dict()
        if request.method == "POST"
        else {"kind": request.args.get("kind", "supplement")}
    )
    status = 200
    if request.method == "POST":
        try:
            slip = issue_counter_slip(
                engine_ctx(),
                kind=values.get("kind", ""),
                procedure_code=values.get("procedure_code", ""),
                applicant=applicant_from(values),
                missing=values.get("missing", "").splitlines(),
                reason=values.get("reason", ""),
                officer_id=officer().id,
                now=now(),
                submission_key=values.get("submission_key") or None,
            )
        except DomainError as exc:
            status = exc.http_status
            errors[getattr(exc, "field", None) or "form"] = exc.message
        else:
            if slip.repeated:
                flash("Biểu mẫu đã được gửi trước đó; đây là phiếu đã phát hành.", "info")
            else:
                flash("Đã phát hành phiếu; hồ sơ chưa được tiếp nhận và không cấp mã hồ sơ.", "success")
            return redirect(url_for("counter.print_slip", slip_id=slip.id))
    return render_template("counter_slip.html", **counter_form(values, errors)), status


def counter_form(values: dict[str, str] | None = None, errors: dict[str, str] | None = None) -> dict:
    """What the counter slip form needs (on its own page and on the desk page)."""
    ctx = engine_ctx()
    values = values or {"kind": "supplement"}
    return {
        "procedures": receive_form(ctx, officer().id, None, uow=request_uow()).procedures,
        "recent_slips": recent_counter_slips(ctx, officer().id, uow=request_uow()),
        "slip_values": values,
        "slip_errors": errors or {},
        # A fresh key per form shown, so a double submission is recognised.
        "slip_key": values.get("submission_key") or uuid.uuid4().hex,
    }


@bp.get("/<int:slip_id>")
@login_required
def print_slip(slip_id: int):
    """A counter slip on A5, dated the day it was issued."""
    head = counter_slip_form(engine_ctx(), officer().id, slip_id, uow=request_uow())
    return render_template("form_counter.html", head=head)
