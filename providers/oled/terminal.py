"""Half-block terminal drawing lives with the snapshot format in ``agent.screen``.

luma.emulator's ``asciiblock`` device needs a real tty (it queries the
terminal size and writes escape codes), so frames are drawn as strings.
"""

from pi_edge.agent.display.screen import to_halfblocks

__all__ = ["to_halfblocks"]
