"""How a sender asks the display actor for alignment, font size and wrapping: message headers.

The options travel as headers beside the text, so any NATS client can send
them; the CLI's flags and the HTTP gateway's query parameters are spellings of
the same three headers, and oled-text reads them (refusing a wrong value with
a reason).  The size range is the display provider's to judge, not the sender's.
"""

from __future__ import annotations

from collections.abc import Mapping

from pi_edge.agent.display.provider import ALIGNMENTS

ALIGN, FONT_SIZE, WRAP = "align", "font-size", "wrap"
#: Query parameters of the HTTP gateway: ``align``, ``size`` and ``wrap`` set the headers above.
QUERY_PARAMETERS = ("align", "size", "wrap")
_YES, _NO = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


def text_headers(align: str | None = None, size: int | None = None, wrap: bool | None = None) -> dict[str, str]:
    """The headers for options already checked (none for those left to the actor's defaults)."""
    headers = {}
    if align is not None:
        headers[ALIGN] = align
    if size is not None:
        headers[FONT_SIZE] = str(size)
    if wrap is not None:
        headers[WRAP] = "yes" if wrap else "no"
    return headers


def check_align(value: str) -> str:
    if value.strip().lower() not in ALIGNMENTS:
        raise ValueError(f"align {value!r} is not one of {', '.join(ALIGNMENTS)}")
    return value.strip().lower()


def check_size(value: str) -> int:
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size < 1:
        raise ValueError(f"size {value!r} is not a font size in pixels (a whole number like 16; "
                         "leave it out to fit the text to the panel)")
    return size


def check_wrap(value: str) -> bool:
    if value.strip().lower() not in _YES + _NO:
        raise ValueError(f"wrap {value!r} is not yes or no")
    return value.strip().lower() in _YES


def headers_from_query(given: Mapping[str, str]) -> dict[str, str]:
    """``?align=left&size=16&wrap=no`` (the caller has refused unknown and repeated parameters) as headers;
    a bad value is ValueError."""
    return text_headers(check_align(given["align"]) if "align" in given else None,
                        check_size(given["size"]) if "size" in given else None,
                        check_wrap(given["wrap"]) if "wrap" in given else None)
