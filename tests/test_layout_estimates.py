"""The layout decides most fits from glyph-cache estimates; this holds them to their contract.

If an estimate were ever off by more than ``SLACK``, a line could be judged to fit
that does not (a lit pixel off the panel) or the other way round (a smaller font
than needed): both are caught here on random text at every size the fit search uses.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.oled.layout import MAX_FONT_SIZE, SLACK, _estimate, _measure

TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("°—äöüßéñ€"),
               min_size=1, max_size=24)


@given(text=TEXT, size=st.integers(4, MAX_FONT_SIZE))
@settings(max_examples=400, deadline=None)
def test_estimated_ink_is_within_slack_of_the_rasterised_ink(text, size):
    guess = _estimate(text, size)
    if guess is None:  # starts or ends without ink: the layout measures such lines exactly
        return
    real = _measure(text, size)
    if real.empty:
        return
    assert abs(guess.width - real.width) <= SLACK, (text, size, guess, real)
    assert abs((guess.bottom - guess.top) - (real.bottom - real.top)) <= SLACK, (text, size, guess, real)
