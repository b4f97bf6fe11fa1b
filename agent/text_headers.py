"""How a sender asks the display actor for alignment, font size and wrapping: message headers.

The options travel as headers beside the text, so any NATS client can send
them; the CLI's flags and the HTTP gateway's query parameters are spellings of
the same three headers, and oled-text reads them (refusing a wrong value with
a reason).  The size range is the display provider's to judge, not the sender's.
"""

from __future__ import annotations

from collections.abc import Mapping

from .provider import ALIGNMENTS

ALIGN, FONT_SIZE, WRAP = "align", "font-size", "wrap"
#: Query parameters of the HTTP gateway, and the header each one sets.
QUERY_PARAMETERS = {"align": ALIGN, "size": FONT_SIZE, "wrap": WRAP}
_YES, _NO = ("yes", "true", "on", "1"), ("no", "false", "off", "0")


def text_headers(align: str | None = None, size: int | None = None, wrap: bool | None = None) -> dict[str, str]:
    """The headers for the options given (none for those left to the actor's defaults)."""
    headers = {}
    if align is not None:
        headers[ALIGN] = check_align(align)
    if size is not None:
        headers[FONT_SIZE] = str(check_size(str(size)))
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


def headers_from_query(query: Mapping[str, list[str]]) -> dict[str, str]:
    """``?align=left&size=16&wrap=no`` as headers; an unknown or repeated parameter, or a bad value, is ValueError."""
    given = {}
    for name, values in query.items():
        if name not in QUERY_PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}; the parameters are {', '.join(QUERY_PARAMETERS)}")
        if len(values) != 1:
            raise ValueError(f"parameter {name!r} is given {len(values)} times")
        given[name] = values[0]
    return text_headers(given.get("align"), check_size(given["size"]) if "size" in given else None,
                        check_wrap(given["wrap"]) if "wrap" in given else None)
