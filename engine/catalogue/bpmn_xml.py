"""Safe parsing of uploaded BPMN XML: no DTD, no entities, no network, size-capped."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XHTML_NS = "http://www.w3.org/1999/xhtml"
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSLT_NS = "http://www.w3.org/1999/XSL/Transform"
XINCLUDE_NS = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
# The project's own namespace for SLA, step kind and lane role extension elements.
MC_NS = "urn:motcua:bpmn:1"
NSMAP = {"bpmn": BPMN_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS, "mc": MC_NS, "xsi": XSI_NS}

DEFAULT_MAX_BYTES = 2 * 1024 * 1024
DOCTYPE_MESSAGE = "không được phép khai báo DOCTYPE hoặc thực thể (entity)"
_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def one_line(text: str) -> str:
    """Text with its line breaks and runs of white space folded to single spaces."""
    return " ".join(text.split())


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a BPMN document, printed as `file:line: name (id): message`."""

    file: str
    line: int
    element_id: str
    name: str
    message: str

    def __str__(self) -> str:
        # One line per problem whatever the diagram holds: a name drawn on two lines in a modeler
        # carries a line break that would split the `file:line` output.
        name = one_line(self.name)
        where = f"{name} ({one_line(self.element_id)})" if self.element_id else name or "document"
        return f"{self.file}:{self.line}: {where}: {one_line(self.message)}"

    def as_dict(self) -> dict[str, object]:
        """JSON form for the API and the editor."""
        return {
            "file": self.file,
            "line": self.line,
            "element_id": self.element_id,
            "name": self.name,
            "message": self.message,
        }


class XmlRejected(ValueError):
    """The document was refused before or while parsing; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def parse_bpmn_xml(
    data: bytes | str, *, filename: str = "<upload>", max_bytes: int = DEFAULT_MAX_BYTES
) -> etree._Element:
    """Parse BPMN text safely and return the root element, or raise XmlRejected with the line."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise XmlRejected(
            Problem(
                filename, 1, "", "document", f"tệp có {len(raw)} byte, vượt quá giới hạn {max_bytes} byte"
            )
        )
    match = _DOCTYPE.search(raw)
    if match:
        line = raw.count(b"\n", 0, match.start()) + 1
        raise XmlRejected(Problem(filename, line, "", "document", DOCTYPE_MESSAGE))
    try:
        root = etree.fromstring(raw, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        raise XmlRejected(Problem(filename, line, "", "document", f"XML sai cú pháp: {exc.msg}")) from exc
    # The byte scan above misses UTF-16/32 documents; the parsed tree tells in any encoding.
    docinfo = root.getroottree().docinfo
    entity = next((e for e in root.iter() if isinstance(e, etree._Entity)), None)
    if docinfo.doctype or docinfo.internalDTD is not None or entity is not None:
        line = entity.sourceline if entity is not None and entity.sourceline else 1
        raise XmlRejected(Problem(filename, line, "", "document", DOCTYPE_MESSAGE))
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise XmlRejected(
            Problem(
                filename, root.sourceline or 1, "", "document", "phần tử gốc không phải là bpmn:definitions"
            )
        )
    return root


def bpmn_text(data: bytes | str) -> str:
    """The document as the text stored for a process version: UTF-8 kept byte for byte, others re-encoded.

    Callers parse the document first (parse_bpmn_xml), so the bytes are well-formed XML here.
    """
    if isinstance(data, str):
        return data
    tree = etree.fromstring(data, parser=_parser()).getroottree()
    if (tree.docinfo.encoding or "UTF-8").upper().replace("_", "-") in ("UTF-8", "UTF8"):
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    return etree.tostring(tree, encoding="UTF-8", xml_declaration=True).decode("utf-8")


def local_name(element: etree._Element) -> str:
    """Tag without its namespace."""
    return etree.QName(element).localname
