"""pi-edge's guard around a Python actor's ``Handler.handle``, added by ``pi-edge build``.

componentize-py builds this module as the component's entry (the actor's
folder is on its path), so ``app`` is imported here at build time.  Inside the
sandbox CPython cannot print a traceback (it needs files the component does not
have), so an exception the actor does not catch used to end in a trap that said
nothing.  Here it is caught and answered with what a person needs: its type,
its message and the actor's own frames (file, line, function; innermost
first), behind a mark the host recognises, so the host still treats it as a
trap (a fresh instance, counted by supervision).  A reply that is not bytes
is named too, instead of trapping (a ``str``) or being refused (a ``bytearray``
is turned into bytes).
"""

import os

import app
from componentize_py_types import Err

from wit_world import exports

#: What the host looks for at the start of an err (``pi_edge.agent.wasm.instance``).
MARK = "pi-edge-uncaught: "
MAX_FRAMES = 12
MAX_TEXT = 300
#: The folder the actor's modules come from (its mount in the component): frames elsewhere are not its own.
ACTOR_DIR = os.path.dirname(app.__file__) + "/"
#: Made now, while memory is plentiful: what to say when even describing the error runs out of memory.
OUT_OF_MEMORY = MARK + "MemoryError: the actor ran out of memory (too little was left to say where)"


def _text(exc):
    try:
        text = str(exc)
    except BaseException:  # a __str__ that fails: the type alone
        text = ""
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _name(kind):
    module = getattr(kind, "__module__", "builtins")
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def _frames(tb):
    """The actor's own frames as (file, line, function), outermost first."""
    found = []
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(ACTOR_DIR):
            found.append((code.co_filename[len(ACTOR_DIR):], tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return found


def _release(tb):
    """Let go of the frames' locals now: after a MemoryError they hold what filled the memory."""
    while tb is not None:
        try:
            tb.tb_frame.clear()
        except RuntimeError:  # a frame still running (this module's own)
            pass
        tb = tb.tb_next


def _lines(frames):
    """Innermost first; a frame repeated in a row (recursion) once, with how many times."""
    lines, previous, count = [], None, 0
    for frame in reversed(frames):
        if frame == previous:
            count += 1
            continue
        if previous is not None:
            lines.append(_frame(previous, count))
        previous, count = frame, 1
    if previous is not None:
        lines.append(_frame(previous, count))
    if len(lines) > MAX_FRAMES:
        lines = lines[:MAX_FRAMES] + [f"... {len(lines) - MAX_FRAMES} more"]
    return lines


def _frame(frame, count):
    path, line, function = frame
    return f"{path}:{line} in {function}" + (f" ({count} times)" if count > 1 else "")


def _describe(exc):
    tb = exc.__traceback__
    frames = _frames(tb)
    exc.__traceback__ = None
    _release(tb)
    del tb
    first = _name(type(exc))
    text = _text(exc)
    if text:
        first += ": " + text
    cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if cause is not None and not isinstance(cause, Err):
        first += f" (while handling {_name(type(cause))}" + (f": {_text(cause)})" if _text(cause) else ")")
    return "\n".join([MARK + first, *_lines(frames)])


def _refused(what):
    return Err(f"{MARK}TypeError: handle returned {what}")


class Handler(exports.Handler):
    actor = None  # the actor's own Handler: made once, at the first message, as componentize-py does

    def handle(self, msg):
        try:
            if Handler.actor is None:
                Handler.actor = app.Handler()
            reply = Handler.actor.handle(msg)
        except Err as err:
            if isinstance(err.value, str):
                raise
            raise Err(f"the actor raised Err with a {type(err.value).__name__}, not a str: {_text(err.value)}")
        except MemoryError as exc:
            try:
                described = _describe(exc)
            except MemoryError:
                raise Err(OUT_OF_MEMORY) from None
            raise Err(described) from None
        except BaseException as exc:  # SystemExit and RecursionError too: the guest has no one else to tell
            raise Err(_describe(exc)) from None
        if type(reply) is bytes:
            return reply
        if isinstance(reply, (bytearray, memoryview)):
            return bytes(reply)
        if isinstance(reply, str):
            raise _refused("a str, not bytes: encode it, e.g. return text.encode()")
        raise _refused(f"{'None' if reply is None else 'a ' + type(reply).__name__}, not bytes")


