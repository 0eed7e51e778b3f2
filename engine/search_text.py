"""The one normaliser of dossier search: what is stored in `dossier.search_text` and what is typed.

Officers type names without diacritics or in capitals ("hoa binh", "HÒA BÌNH"), with the old or the
new tone placement ("Hoà"/"Hòa", "Thuỷ"/"Thủy"), and phone numbers in groups ("0912 345 678",
"0912.345.678"). Both sides go through `normalise`, so a plain substring test matches all of them:
lower case, diacritics stripped (which also makes both tone placements equal), đ read as d, runs of
spaces made one, and spaces, dots and dashes between two digits dropped. The stored text joins the
normalised code, name, phone, ID number and e-mail with " | ", which no query crosses.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import event, inspect

from models import Dossier

# The fields a search reads, in the order they are stored.
SEARCHED = ("code", "applicant_name", "applicant_phone", "applicant_id_number", "applicant_email")
SEPARATOR = " | "
_DIGIT_GAPS = re.compile(r"(?<=\d)[\s.\-]+(?=\d)")
_SPACES = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """Lower case, no diacritics, đ as d, one space between words, no gaps between digits."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return _DIGIT_GAPS.sub("", _SPACES.sub(" ", bare).strip())


def phone_forms(phone: str | None) -> list[str]:
    """A phone number as written and, for +84 numbers, in the national form typed at the desk."""
    number = normalise(phone).replace(" ", "")
    if not number:
        return []
    if number.startswith("+84"):
        return [number, "0" + number[3:]]
    return [number]


def search_text_of(
    code: str,
    name: str | None,
    phone: str | None = None,
    id_number: str | None = None,
    email: str | None = None,
) -> str:
    """The stored search text of a dossier from its code and applicant fields."""
    parts = [normalise(code), normalise(name), *phone_forms(phone), normalise(id_number), normalise(email)]
    return SEPARATOR.join(p for p in parts if p)


def refresh_search_text(dossier: Dossier) -> None:
    """Write the dossier's search text from its current code and applicant fields."""
    dossier.search_text = search_text_of(
        dossier.code,
        dossier.applicant_name,
        dossier.applicant_phone,
        dossier.applicant_id_number,
        dossier.applicant_email,
    )


@event.listens_for(Dossier, "before_update")
def _on_update(_mapper: object, _connection: object, dossier: Dossier) -> None:
    # A corrected applicant field is found by its new value; other updates leave the text alone.
    state = inspect(dossier)
    if any(state.attrs[name].history.has_changes() for name in SEARCHED):
        refresh_search_text(dossier)


def query_words(text: str) -> list[str]:
    """The normalised words of a typed search, which must appear in this order in the stored text."""
    words = [w for w in normalise(text).split(" ") if w]
    # A +84 number typed as such finds the number stored in either form.
    return ["0" + w[3:] if w.startswith("+84") and w[3:].isdigit() else w for w in words]
