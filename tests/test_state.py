"""The host's state on disk: damage is set aside and reported, never a reason not to start; a change
that cannot be saved (a full disk) is not made, and one that is made is saved."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_edge.agent.errors import ActorReplyError, StateError
from pi_edge.agent.host.desired import DesiredActor, DesiredState
from pi_edge.agent.host.links import LinkTable
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.lattice.store import ComponentStore
from tests.events import follow
from tests.processes import run_cli

DAMAGE = [b"", b"\x00\xff garbage {", b'{"actors": 5}', b'[1, 2]']


@pytest.mark.parametrize("content", DAMAGE)
@pytest.mark.parametrize("name", ["desired.json", "links.json"])
async def test_a_damaged_state_file_is_set_aside_and_the_agent_serves(
        existing_server, start_agent, tmp_path: Path, name: str, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """An empty or garbage desired.json or links.json stopped the start with exit 2, five times under
    systemd, and then the Pi was off the lattice for good."""
    state = tmp_path / "state"
    state.mkdir()
    (state / name).write_bytes(content)
    watcher = await connect(existing_server.url, "test-watch")
    try:
        damaged = await follow(watcher, "state-damaged")
        with caplog.at_level(logging.ERROR, logger="pi_edge.state"):
            agent = await start_agent({}, nats_url=existing_server.url, state_dir=state)
        event = await asyncio.wait_for(damaged.get(), 10)
        assert f"{state / name} is damaged" in event["reason"] and "using nothing instead" in event["reason"], event
        assert any(f"{state / name} is damaged" in r.getMessage() for r in caplog.records)
        (aside,) = state.glob(f"{name}.damaged-*")
        assert aside.read_bytes() == content  # kept for whoever wants to look
        reply = await request(watcher, subjects.ctl("default", "test-pi", "inventory"), b"", None, 10, what="host")
        assert json.loads(reply.body)["state_damaged"] == [event["reason"]]
        if content == b"":  # what the operator reads
            code, out, err = await run_cli("inventory", "test-pi", "--nats-url", existing_server.url)
            assert code == 0 and f"DAMAGED   {event['reason']}" in out, (out, err)
        assert agent.service.host is not None
    finally:
        await watcher.close()


def test_the_previous_generation_stands_in_for_a_damaged_one(tmp_path: Path) -> None:
    desired = DesiredState(tmp_path)
    first = {"a": DesiredActor("a", "1" * 64)}
    desired.save(first)
    desired.save({**first, "b": DesiredActor("b", "2" * 64, 3)})
    desired.path.write_bytes(b'{"actors": [{"name": "b"')  # torn by a crash
    again = DesiredState(tmp_path)
    assert again.load() == first
    assert "using the previous generation instead" in again.file.damage[0]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content", [b"", b"SUgarbage\n", b"NBAD"])
async def test_a_damaged_host_key_stops_the_start_naming_the_file(tmp_path: Path, content: bytes) -> None:
    """An identity never changes silently: exit 78 (systemd does not restart into it), the file and what to do."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "host.nk").write_bytes(content)
    code, _, err = await run_cli("agent", "--port", "0", "--display", "emulator", "--state-dir", str(state))
    assert code == 78, err
    assert f"{state / 'host.nk'} is damaged" in err and "move it away" in err and "Traceback" not in err, err
    assert (state / "host.nk").read_bytes() == content


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB file system of its own (tmpfs), so a test can fill it; needs root."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write until the disk is full, to the last byte; returns the file to remove to free it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


async def test_on_a_full_disk_a_change_that_cannot_be_saved_is_not_made(existing_server, start_agent, small_disk: Path,
                                                                        built: dict[str, Path]) -> None:
    """A link that could not be saved replied with an error yet was live; a deploy whose desired state could
    not be saved replied "failed" yet its actor ran until the next restart."""
    agent = await start_agent({}, nats_url=existing_server.url, state_dir=small_disk / "state")
    host = agent.service.host
    nc = await connect(existing_server.url, "test-laptop")

    async def control(op: str, body: dict[str, object]) -> dict[str, object]:
        reply = await request(nc, subjects.ctl("default", "test-pi", op), json.dumps(body).encode(), None, 60,
                              what="host")
        return dict(json.loads(reply.body))

    try:
        digest, _ = await ComponentStore(nc).put(built["oled-text"].read_bytes())
        assert (await control("deploy", {"name": "sign", "digest": digest}))["scale"] == 1
        filler = fill(small_disk)
        for op, body in (("link", {"actor": "sign", "provider": "pi-9-display"}),
                         ("scale", {"name": "sign", "scale": 2}),
                         ("deploy", {"name": "other", "digest": digest}),
                         ("stop", {"name": "sign"})):
            with pytest.raises(ActorReplyError, match="cannot save .*No space left on device"):
                await control(op, body)
        assert host.links == {} and set(host.actors) == {"sign"} and host.actors["sign"].scale == 1
        assert json.loads((small_disk / "state" / "desired.json").read_text())["actors"] == [
            {"digest": digest, "name": "sign", "scale": 1}]
        assert not list((small_disk / "state").rglob(".*.tmp")), "a write left its temporary file behind"
        filler.unlink()
        assert (await control("link", {"actor": "sign", "provider": "pi-9-display"}))["provider"] == "pi-9-display"
        assert (await control("scale", {"name": "sign", "scale": 2}))["scale"] == 2
        assert LinkTable(small_disk / "state").load() == {"sign": "pi-9-display"}
    finally:
        await nc.close()


def test_a_state_file_that_cannot_be_written_says_so_and_keeps_what_it_had(small_disk: Path) -> None:
    desired = DesiredState(small_disk)
    desired.save({"a": DesiredActor("a", "1" * 64)})
    fill(small_disk)
    with pytest.raises(StateError, match=f"cannot save {small_disk / 'desired.json'}: No space left on device"):
        desired.save({"b": DesiredActor("b", "2" * 64)})
    assert set(desired.actors) == {"a"} and set(DesiredState(small_disk).load()) == {"a"}
