"""The commented configuration file ``pi-edge install-service`` writes to /etc/pi-edge/agent.toml.

Every key is optional; a flag beats an environment variable (``PI_EDGE_<KEY>``),
which beats this file, which beats the built-in default.  The agent's own
sections are written here; the display plugin's section comes from its settings.
"""

from __future__ import annotations

from pi_edge.agent.display.plugins import Setting
from pi_edge.agent.host.config import AGENT_KEYS, KEYS

_TEMPLATE = """\
# pi-edge agent configuration (TOML). Every key is optional.
# Precedence: command-line flag > environment variable PI_EDGE_<KEY> > this file > default.

[agent]
# name = "pi-01"                                   # default: the hostname; letters, digits, - and _
# lattice = "default"                              # letters, digits, - and _
# hub = "nats-leaf://laptop.local:7422"            # default: standalone
# hub_credentials = "/etc/pi-edge/hub.creds"       # NAME.creds from 'pi-edge hub enroll NAME'; names the host
# hub_ca = "/etc/pi-edge/hub-ca.pem"               # when the hub's leaf port uses TLS
# nats_url = "nats://127.0.0.1:4222"               # use this NATS server instead of starting a leaf server
# listen = "127.0.0.1"                             # the local leaf server's client address
# port = 4222                                      # the local leaf server's client port; 0 picks a free one
# state_dir = "/var/lib/pi-edge"                   # the service's unit sets PI_EDGE_STATE_DIR, which beats this
# cache_dir = "/var/cache/pi-edge"                 # the service's unit sets PI_EDGE_CACHE_DIR, which beats this
# heartbeat = 30                                   # seconds, at least 1; 0 turns heartbeats off
# labels = { node = "pi-01", room = "hall" }
# trust = ["A..."]                                 # account keys whose signed actors run here
# trust_compiled = ["A..."]                        # keys whose compiled code from the hub runs here (else it compiles)
# allow_unsigned = false                           # development only
# actors = { "oled-text" = "builtin" }             # name = "builtin", a .wasm, or an actor source directory

{plugin}
[limits]
# deadline_ms = 2000                               # at least 10
# memory_mb = 256                                  # at least 16
# max_message_kb = 64                              # at least 1
# max_component_mb = 64                            # larger deploys are refused before they are fetched
# compile_memory_mb = 0                            # most a compile here may use; 0: what is free (MemoryMax too)
# log_lines_per_s = 100                            # what each actor may log; past it lines are counted, not written

[shutdown]
# grace_s = 10                                     # in-flight messages get this long on SIGTERM
# blank_display = false                            # blank the panel when the agent stops
"""


def section(settings: list[Setting]) -> str:
    """``[section]`` and one commented line per setting, its comment aligned as the agent's are."""
    lines = [f"[{settings[0].section}]"]
    for s in settings:
        line = f"# {s.name} = {s.example}"
        lines.append(f"{line:<50} # {s.note}" if s.note else line)
    return "\n".join(lines) + "\n"


_plugin = [key for key in KEYS if key not in AGENT_KEYS]
SKELETON = _TEMPLATE.replace("{plugin}\n", section(_plugin) + "\n" if _plugin else "")
