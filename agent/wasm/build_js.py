"""JavaScript actors: componentize-js (from npm, installed once per machine) with every WASI feature off.

componentize-js's defaults give a component that imports 18 WASI interfaces
(stdio, clocks, random, http): a host that grants only ``display`` and
``logging`` refuses it.  ``FEATURES`` are the ones this build turns off, and
``features_for`` says which of them bring a given WASI import, so a refusal of
a component built elsewhere can say what to turn off.

The actor's ``actor.js`` is entered through a generated guard (``actors/js/entry.js``)
that answers a thrown Error with its name, message and lines instead of trapping.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from pi_edge.agent.errors import BuildError
from pi_edge.agent.files import tool_lock
from pi_edge.agent.progress import NO_PROGRESS, Progress
from pi_edge.agent.wasm import sources

log = logging.getLogger("pi_edge.build")

PACKAGE = "@bytecodealliance/componentize-js"
VERSION = "0.23.0"
TOOL = f"componentize-js {VERSION}"
MIN_NODE = 18
ENTRY = "__pi_edge_entry.js"
#: Every WASI feature componentize-js can turn off, in its own words (``disableFeatures``, ``-d``).
FEATURES = ("stdio", "random", "clocks", "http", "fetch-event")
#: Which WASI interfaces each feature brings into a component (measured on componentize-js 0.23.0).
_BRINGS = {
    "stdio": re.compile(r"wasi:(io|cli|filesystem)/|wasi:clocks/wall-clock"),
    "random": re.compile(r"wasi:random/"),
    "clocks": re.compile(r"wasi:(io/(poll|error|streams)|clocks/|cli/stderr)"),
    "http": re.compile(r"wasi:(io/(poll|error|streams)|http/(types|outgoing-handler))"),
    "fetch-event": re.compile(r"wasi:(io/(poll|streams)|http/types)"),
}
NODE_HINT = ("building a JavaScript actor needs Node.js {min} or later with npm (https://nodejs.org, or "
             "'sudo apt install nodejs npm'); then run 'pi-edge build' again")


def features_for(imports: list[str]) -> list[str]:
    """The componentize-js features that bring any of these WASI imports, in its own order."""
    return [f for f in FEATURES if any(_BRINGS[f].match(name) for name in imports)]


def support_dir() -> Path:
    return Path(str(resources.files("pi_edge.actors") / "js"))


def node() -> str:
    """The ``node`` executable, checked to be new enough; BuildError saying how to get it if not."""
    found = shutil.which("node")
    if found is None or shutil.which("npm") is None:
        raise BuildError(NODE_HINT.format(min=MIN_NODE))
    done = subprocess.run([found, "--version"], capture_output=True, text=True)
    match = re.match(r"v(\d+)\.", done.stdout.strip())
    if not match or int(match[1]) < MIN_NODE:
        raise BuildError(f"node {done.stdout.strip() or '(unknown version)'} is too old: "
                         + NODE_HINT.format(min=MIN_NODE))
    return found


def toolchain(cache_dir: Path, progress: Progress = NO_PROGRESS) -> Path:
    """componentize-js installed from npm into the cache, once per machine (about 400 MB, 15 s)."""
    home = cache_dir / "js" / f"componentize-js-{VERSION}"
    marker = home / "node_modules" / "@bytecodealliance" / "componentize-js" / "package.json"
    with tool_lock(home.parent):
        if not marker.exists():
            node()
            progress.step(f"installing componentize-js {VERSION} from npm (once per machine; about 15 s)")
            home.mkdir(parents=True, exist_ok=True)
            (home / "package.json").write_text('{"private": true, "description": "pi-edge\'s componentize-js"}\n')
            npm = shutil.which("npm") or "npm"
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--save-exact", "--loglevel=error",
                                   f"{PACKAGE}@{VERSION}"], cwd=home, capture_output=True, text=True,
                                  errors="replace")
            if done.returncode != 0 or not marker.exists():
                lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()][-4:]
                raise BuildError(f"npm could not install {PACKAGE}@{VERSION} into {home}: "
                                 f"{' / '.join(lines) or 'no output'}; check that npm can reach its registry")
            log.info("build: installed %s@%s in %s", PACKAGE, VERSION, home)
    return home


def stage(actor_dir: Path, work: Path) -> Path:
    """The actor's sources and the guard entry, copied into ``work``; the entry's path."""
    src = sources.copy_sources(actor_dir, work / "src")
    entry = src / ENTRY
    shutil.copyfile(support_dir() / "entry.js", entry)
    return entry


def command(node_path: str, home: Path, entry: Path, wit: Path, world: str, out: Path) -> list[str]:
    return [node_path, str(support_dir() / "componentize.mjs"), str(home), str(entry), str(wit), world, str(out)]
