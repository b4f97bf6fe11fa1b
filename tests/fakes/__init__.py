"""Fakes that behave like hardware, for tests; library code never imports them."""
