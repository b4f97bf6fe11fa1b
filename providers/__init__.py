"""Native providers: code that reaches real hardware on behalf of actors."""
