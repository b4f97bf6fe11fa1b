"""Signed actors: the host runs what a trusted issuer signed, exactly as signed, with only the
capabilities granted; every refusal has its own reason and an event."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from pi_edge.agent.errors import CapabilityError, ClaimsError, NoResponderError
from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.client import ping, request
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.trust import claims
from pi_edge.agent.trust.claims import TrustPolicy
from pi_edge.agent.wasm import binary
from tests.conftest import ROOT
from tests.events import follow
from tests.processes import CliProcess, run_cli

ACCOUNT = claims.generate_key("account")
ISSUER = ACCOUNT.public_key.decode()


def signed(built: dict[str, Path], tmp_path: Path, name: str = "signed.wasm", **kw: object) -> Path:
    options = {"capabilities": ["display", "logging"], "expires_in": 3600, **kw}
    data = claims.sign(built["oled-text"].read_bytes(), options.pop("issuer", ACCOUNT), claims.generate_key("actor"),
                       **options)  # type: ignore[arg-type]
    path = tmp_path / name
    path.write_bytes(data)
    return path


async def refusals(agent) -> asyncio.Queue:  # type: ignore[no-untyped-def]
    nc = await connect(agent.url, name="test-events", credentials=agent.credentials)
    queue = await follow(nc, "actor-refused")
    queue.nc = nc  # type: ignore[attr-defined]
    return queue


async def test_trusted_signed_actor_runs_and_shows_its_signer(start_agent, built, tmp_path) -> None:
    agent = await start_agent({"oled-text": signed(built, tmp_path)}, trusted=[ISSUER], allow_unsigned=False)
    group = agent.service.host.actors["oled-text"]
    assert group.signer == ISSUER and group.granted == frozenset({"display", "logging"})
    nc = await connect(agent.url, name="test", credentials=agent.credentials)
    try:
        reply = await request(nc, subjects.actor("default", "oled-text"), b"Signed", None, 10, what="actor")
        assert reply.body.startswith(b"shown:")
    finally:
        await nc.close()


@pytest.mark.parametrize(("case", "reason"), [
    ("tampered", "does not match its claims' digest: it was changed after signing"),
    ("expired", "the claims expired at"),
    ("untrusted", "is not trusted by this host; add it with --trust"),
    ("unsigned", "the component is not signed"),
    ("forged", "signature does not match their issuer"),
    ("garbage", "not a well-formed JWT"),
])
async def test_each_refusal_has_its_own_reason_and_an_event(start_agent, built, tmp_path, case, reason) -> None:
    agent = await start_agent({}, trusted=[ISSUER], allow_unsigned=False)
    if case == "tampered":
        data = bytearray(signed(built, tmp_path).read_bytes())
        data[len(data) // 2] ^= 0x01  # one bit, in the middle of the code
        path = tmp_path / "tampered.wasm"
        path.write_bytes(bytes(data))
    elif case == "expired":
        path = signed(built, tmp_path, expires_in=-60)
    elif case == "untrusted":
        path = signed(built, tmp_path, issuer=claims.generate_key("account"))
    elif case == "unsigned":
        path = built["oled-text"]
    elif case == "forged":  # claims edited to widen them, signature left as it was
        data = signed(built, tmp_path, capabilities=["logging"]).read_bytes()
        token = claims.extract_token(data) or ""
        head, body, sig = token.split(".")
        payload = json.loads(claims._unb64(body))
        payload["pi-edge"]["caps"] = ["display", "logging"]
        forged = f"{head}.{claims._b64(json.dumps(payload).encode())}.{sig}"
        path = tmp_path / "forged.wasm"
        path.write_bytes(_with_token(data, forged))
    else:
        path = tmp_path / "garbage.wasm"
        path.write_bytes(_with_token(built["oled-text"].read_bytes(), "not-a-jwt"))
    events = await refusals(agent)
    try:
        with pytest.raises(ClaimsError, match=reason):
            await agent.service.host.start_actor("suspect", path)
        event = await asyncio.wait_for(events.get(), 10)
        assert event["actor"] == "suspect" and reason.split(":")[0] in event["reason"]
        assert "suspect" not in agent.service.host.actors
    finally:
        await events.nc.close()  # type: ignore[attr-defined]


def _with_token(wasm: bytes, token: str) -> bytes:
    name = claims.SECTION.encode()
    payload = binary.leb(len(name)) + name + token.encode()
    return claims.strip_claims(wasm) + b"\x00" + binary.leb(len(payload)) + payload


async def test_missing_capability_binds_nothing_and_starts_nothing(start_agent, built, tmp_path) -> None:
    agent = await start_agent({}, trusted=[ISSUER], allow_unsigned=False)
    events = await refusals(agent)
    try:
        with pytest.raises(CapabilityError, match="imports display but its claims do not grant it"):
            await agent.service.host.start_actor("no-display", signed(built, tmp_path, capabilities=["logging"]))
        assert "display" in (await asyncio.wait_for(events.get(), 10))["reason"]
        assert "no-display" not in agent.service.host.actors
    finally:
        await events.nc.close()  # type: ignore[attr-defined]


async def test_actor_built_from_source_is_signed_by_its_host(start_agent, built) -> None:
    agent = await start_agent({"oled-text": ROOT / "actors" / "oled_text"}, allow_unsigned=False)
    host = agent.service.host
    assert host.actors["oled-text"].signer == host.id


def test_expiry_and_not_before_are_checked_against_the_clock(built, tmp_path) -> None:
    data = signed(built, tmp_path, expires_in=100).read_bytes()
    policy = TrustPolicy(frozenset({ISSUER}))
    assert policy.check(data, now=time.time()) is not None
    with pytest.raises(ClaimsError, match="expired"):
        policy.check(data, now=time.time() + 101)
    assert TrustPolicy(allow_unsigned=True).check(built["oled-text"].read_bytes()) is None


def test_signing_keeps_the_digest_and_resigning_replaces_the_claims(built, tmp_path) -> None:
    original = built["oled-text"].read_bytes()
    once = signed(built, tmp_path).read_bytes()
    twice = claims.sign(once, ACCOUNT, claims.generate_key("actor"), ["logging"])
    assert claims.component_digest(once) == claims.component_digest(twice) == claims.component_digest(original)
    assert claims.read_claims(claims.extract_token(twice) or "").capabilities == ("logging",)
    assert twice.count(claims.SECTION.encode()) == 1


async def test_keys_sign_inspect_from_the_command_line(built, tmp_path) -> None:
    seed = tmp_path / "account.nk"
    code, out, err = await run_cli("keys", "gen", "account", "-o", str(seed))
    assert code == 0 and out.startswith("account public key: A"), err
    assert seed.stat().st_mode & 0o077 == 0
    component = tmp_path / "sign.wasm"
    component.write_bytes(built["oled-text"].read_bytes())
    code, out, err = await run_cli("sign", str(component), "--issuer", str(seed), "--cap", "display",
                                   "--cap", "logging", "--expires", "30d", "--name", "sign", "--version", "1.2")
    assert code == 0 and "capabilities display, logging" in out, err
    code, out, err = await run_cli("inspect", str(component))
    assert code == 0 and "name         sign" in out and "(matches)" in out, err
    data = bytearray(component.read_bytes())
    data[1000] ^= 0xFF
    component.write_bytes(bytes(data))
    code, out, _ = await run_cli("inspect", str(component))
    assert code == 1 and "DOES NOT MATCH" in out


async def test_inspect_flags_claims_hosts_would_refuse_for_their_time(built, tmp_path, monkeypatch) -> None:
    import time as real_time

    component = tmp_path / "old.wasm"
    now = real_time.time()
    monkeypatch.setattr(claims.time, "time", lambda: now - 3600)  # signed an hour ago, for ten minutes
    component.write_bytes(claims.sign(built["oled-text"].read_bytes(), ACCOUNT, claims.generate_key("actor"),
                                      ["display"], expires_in=600))
    monkeypatch.undo()
    code, out, _ = await run_cli("inspect", str(component))
    assert code == 1 and "(EXPIRED: hosts refuse it; sign it again)" in out and "(matches)" in out, out


async def test_a_refused_configured_actor_is_reported_and_the_agent_serves_on(start_agent, built, tmp_path, existing_server,
                                                                               caplog) -> None:
    """A refusal is the same after a restart: exiting would only make systemd restart the agent in a loop."""
    caplog.set_level(logging.ERROR, logger="pi_edge.agent")
    nc = await connect(existing_server.url, name="test-events")  # the agent uses this server: its events are seen from the start
    try:
        events = await follow(nc, "actor-refused")
        agent = await start_agent({"oled-text": signed(built, tmp_path),
                                   "sign": signed(built, tmp_path, "expired.wasm", expires_in=-60)},
                                  nats_url=existing_server.url, trusted=[ISSUER], allow_unsigned=False)
        event = await asyncio.wait_for(events.get(), 10)
        assert event["actor"] == "sign" and "the claims expired at" in event["reason"]
        assert "sign" not in agent.service.host.actors
        assert any(r.levelno == logging.ERROR and "actor 'sign' refused: the claims expired at" in r.getMessage()
                   for r in caplog.records), caplog.text
        reply = await request(nc, subjects.actor("default", "oled-text"), b"Still here", None, 10, what="actor")
        assert reply.body.startswith(b"shown:")
    finally:
        await nc.close()
    code, out, err = await run_cli("inventory", "test-pi", "--json", "--nats-url", existing_server.url)
    assert code == 0, err
    down = json.loads(out)["not_running"]["sign"]
    assert down["refused"] is True and "the claims expired at" in down["reason"]
    code, out, err = await run_cli("inventory", "test-pi", "--nats-url", existing_server.url)
    assert code == 0, err
    [line] = [line for line in out.splitlines() if line.strip().startswith("sign ")]
    assert "REFUSED: actor 'sign' refused: the claims expired at" in line


async def test_an_agent_whose_every_actor_is_refused_still_runs(built, tmp_path) -> None:
    """From the command line, as systemd runs it: no exit, the control plane answers, a stop exits 0."""
    agent = await CliProcess.start("agent", "--port", "0", "--display", "emulator", "--name", "pi-refused",
                                   "--actor", f"sign={signed(built, tmp_path, issuer=claims.generate_key('account'))}",
                                   "--trust", ISSUER, "--state-dir", str(tmp_path / "state"),
                                   "--cache-dir", str(built["oled-text"].parent.parent))
    try:
        match = await agent.wait_line(r"via (nats://\S+); actors: none; not running: sign")
        await agent.wait_line(r"ERROR .*actor 'sign' refused: issuer \S+ is not trusted", stream="stderr")
        nc = await connect(match[1], name="test")
        try:
            [host] = await ping(nc, "default", window=0.5)
            assert host["name"] == "pi-refused"
        finally:
            await nc.close()
        assert await agent.stop() == 0, agent.transcript()
    finally:
        await agent.kill()


async def test_scale_starts_no_instance_whose_claims_are_no_longer_accepted(start_agent, built, tmp_path) -> None:
    agent = await start_agent({"oled-text": signed(built, tmp_path)}, trusted=[ISSUER], allow_unsigned=False)
    host = agent.service.host
    host.policy = TrustPolicy(frozenset({host.id}))  # as if its claims expired while it ran
    with pytest.raises(ClaimsError, match=f"actor 'oled-text' refused: issuer {ISSUER} is not trusted.*; not scaled"):
        await host.scale_actor("oled-text", 2)
    assert host.actors["oled-text"].scale == 1


async def expiring(start_agent, built, tmp_path, seconds: int):  # type: ignore[no-untyped-def]
    """An agent that trusts ISSUER only, running oled-text signed to expire in ``seconds``; and its host."""
    agent = await start_agent({"oled-text": signed(built, tmp_path, expires_in=seconds)}, trusted=[ISSUER],
                              allow_unsigned=False)
    return agent, agent.service.host


async def test_an_actor_stops_when_its_claims_expire_while_it_runs(start_agent, built, tmp_path) -> None:
    """It serves until its claims expire, then is refused like one that arrived expired."""
    agent, host = await expiring(start_agent, built, tmp_path, 3600)
    events = await refusals(agent)
    stopped = await follow(events.nc, "actor-stopped")
    try:
        reply = await request(events.nc, subjects.actor("default", "oled-text"), b"Before", None, 10, what="actor")
        assert reply.body.startswith(b"shown:")
        # An hour on, less a second (it only ever ticks forward), and its timer set as at a start then:
        # however long the start took, the expiry is at most a second away and no recheck is involved.
        group = host.actors["oled-text"]
        host.clock = lambda: time.time() + 3599
        assert group.expiry is not None
        group.expiry.cancel()
        host.expiry.watch(group)
        event = await asyncio.wait_for(events.get(), 10)
        assert event["actor"] == "oled-text" and "the claims expired at" in event["reason"], event
        assert (await asyncio.wait_for(stopped.get(), 10))["actor"] == "oled-text"
        assert "oled-text" not in host.actors
        assert host.not_running["oled-text"].refused and "expired" in host.not_running["oled-text"].reason
        with pytest.raises(NoResponderError, match="no actor is running"):
            await request(events.nc, subjects.actor("default", "oled-text"), b"After", None, 2, what="actor")
    finally:
        await events.nc.close()


async def test_expiry_is_judged_again_when_the_clock_jumps(start_agent, built, tmp_path, monkeypatch) -> None:
    """A Pi sets its clock from NTP after boot: claims that expire in an hour by the boot-time clock may
    already have expired by the real one, and are noticed within a recheck, not an hour later."""
    from pi_edge.agent.host import expiry

    monkeypatch.setattr(expiry, "EXPIRY_RECHECK_S", 0.05)
    agent, host = await expiring(start_agent, built, tmp_path, 3600)
    judged = asyncio.Event()
    judge = host.expiry.judge

    async def judging(actor) -> None:  # type: ignore[no-untyped-def]
        await judge(actor)
        judged.set()

    monkeypatch.setattr(host.expiry, "judge", judging)
    events = await refusals(agent)
    try:
        await asyncio.wait_for(judged.wait(), 10)  # judged once and found valid: it must look again
        assert "oled-text" in host.actors
        host.clock = lambda: time.time() + 7200  # NTP moved the clock two hours on
        event = await asyncio.wait_for(events.get(), 10)
        assert event["actor"] == "oled-text" and "the claims expired at" in event["reason"], event
        assert "oled-text" not in host.actors
    finally:
        await events.nc.close()


async def test_a_stopped_actor_leaves_no_expiry_behind(start_agent, built, tmp_path) -> None:
    _agent, host = await expiring(start_agent, built, tmp_path, 3600)
    group = host.actors["oled-text"]
    assert group.expiry is not None and not group.expiry.cancelled()
    await host.stop_actor("oled-text")
    assert group.expiry.cancelled()


async def test_a_reload_and_the_expiry_refusing_at_once_refuse_once(start_agent, built, tmp_path) -> None:
    _agent, host = await expiring(start_agent, built, tmp_path, 3600)
    group = host.actors["oled-text"]
    published: list[str] = []
    publish = host.events.publish

    async def recording(kind: str, data: dict) -> None:  # type: ignore[type-arg]
        published.append(kind)
        await asyncio.sleep(0)  # a publish that yields, as one does when the client's buffer is full
        await publish(kind, data)

    host.events.publish = recording  # type: ignore[method-assign]
    host.clock = lambda: time.time() + 7200
    await asyncio.gather(host.apply_policy(host.policy), host.expiry.judge(group))
    assert published.count("actor-refused") == 1 and published.count("actor-stopped") == 1, published
    assert "oled-text" not in host.actors and host.not_running["oled-text"].refused
