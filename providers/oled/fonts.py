"""Which font draws a character: Pillow's built-in font first, then fallback fonts found on the host.

Pillow's built-in scalable font (an Aileron subset) has printable ASCII and a
handful of signs (° © « » ‘ ’ “ ” … ™), so "Grüße" or "20 €" would come out
with boxes.  No font file ships with pi-edge; a host that has one (Debian and
Raspberry Pi OS put DejaVu Sans at ``/usr/share/fonts/truetype/dejavu`` with
``fonts-dejavu-core``) lends its glyphs for the characters the built-in font
lacks.  A character no font has is drawn as the built-in font's box and
reported, so the sender learns the panel did not show what they wrote.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache, lru_cache

from PIL import ImageFont

from pi_edge.providers.oled.errors import OledConfigError

#: Fallback fonts looked for when none are configured, first found first tried: Debian and
#: Raspberry Pi OS (fonts-dejavu-core, fonts-noto-core, fonts-freefont-ttf, fonts-liberation2),
#: Fedora, macOS.
SYSTEM_FALLBACKS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
)

#: A code point no font maps (a Unicode noncharacter): what it draws is the font's "no glyph" box.
_UNMAPPED = "\uffff"


class FontChain:
    """The fallback fonts, in order; one object per distinct list so caches key on it cheaply."""

    __slots__ = ("paths",)

    def __init__(self, paths: tuple[str, ...]) -> None:
        self.paths = paths

    def __repr__(self) -> str:
        return f"FontChain({self.paths!r})"


@cache
def chain_of(paths: tuple[str, ...]) -> FontChain:
    """The one ``FontChain`` for ``paths`` (checked already: see ``check_font``)."""
    return FontChain(paths)


#: Only Pillow's built-in font: what layout uses unless a provider says otherwise.
BUILT_IN = chain_of(())


def system_chain(candidates: Iterable[str] = SYSTEM_FALLBACKS) -> FontChain:
    """The candidates this host has, as a chain (empty when it has none)."""
    return chain_of(tuple(p for p in candidates if os.path.isfile(p)))


def check_font(path: str) -> None:
    """Raise ``OledConfigError`` unless FreeType can open ``path`` as a font: a wrong path is named at start,
    not noticed at the first ü."""
    if not os.path.isfile(path):
        raise OledConfigError(f"font {path} does not exist (or is not a file)", keys=("fonts",))
    from pi_edge.providers.oled.layout import FONT_SIZE_RANGE  # layout imports this module

    try:
        ImageFont.truetype(path, 12)
    except OSError as exc:
        raise OledConfigError(f"font {path} cannot be read as a TrueType or OpenType font ({exc})",
                          keys=("fonts",)) from None
    # A bitmap font (BDF, PCF) opens only at the sizes it was drawn in: every message that needs it
    # would fail, so it is refused here.  Opening all sizes takes a few milliseconds.
    lo, hi = FONT_SIZE_RANGE
    for size in range(lo, hi + 1):
        try:
            ImageFont.truetype(path, size)
        except OSError:
            raise OledConfigError(f"font {path} cannot be drawn at {size} px (a bitmap font has fixed sizes); "
                              "name a scalable TrueType or OpenType font", keys=("fonts",)) from None


@cache
def built_in(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font; cached because loading costs ~1 ms."""
    face = ImageFont.load_default(size=size)
    assert isinstance(face, ImageFont.FreeTypeFont)  # given a size, Pillow loads its scalable font (or raises)
    return face


@lru_cache(maxsize=256)
def fallback(path: str, size: int) -> ImageFont.FreeTypeFont:
    """A fallback font at ``size`` pixels; a few dozen sizes of a few fonts at most."""
    return ImageFont.truetype(path, size)


def _drawing(fnt: ImageFont.FreeTypeFont, text: str) -> tuple[int, tuple[int, int], bytes]:
    core, offset = fnt.getmask2(text, mode="1", anchor="ls")
    return round(fnt.getlength(text, mode="1") * 64), offset, bytes(core) + repr(core.size).encode()


@lru_cache(maxsize=256)
def _no_glyph(fnt: ImageFont.FreeTypeFont) -> tuple[int, tuple[int, int], bytes]:
    return _drawing(fnt, _UNMAPPED)


def has_glyph(fnt: ImageFont.FreeTypeFont, char: str) -> bool:
    """Whether ``fnt`` draws ``char`` as something other than its "no glyph" box.

    Pillow does not expose a font's character map, so the character is drawn
    and compared with what an unmapped code point draws: the same advance, the
    same place and the same pixels mean the font fell back to glyph 0.  A font
    without a space glyph cannot shape an invisible character alone (a soft
    hyphen, a zero-width space: Pillow raises ValueError); it does not draw it.
    """
    try:
        return _drawing(fnt, char) != _no_glyph(fnt)
    except ValueError:
        return False
