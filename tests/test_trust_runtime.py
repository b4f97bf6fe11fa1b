"""Trust changed while hosts run: 'pi-edge trust add|remove ISSUER --host NAME | --all' goes over the
control subjects, is saved on the host and outlasts a restart; no restart is needed to trust a new issuer."""

from __future__ import annotations

import json
from pathlib import Path

import nkeys
import pytest

from pi_edge.agent.lattice import subjects
from pi_edge.agent.lattice.connection import connect
from pi_edge.agent.trust import claims
from tests.processes import run_cli


@pytest.fixture
def account() -> tuple[str, nkeys.KeyPair]:
    key = claims.generate_key("account")
    return key.public_key.decode(), key


def signed(built: dict[str, Path], account: tuple[str, nkeys.KeyPair], tmp_path: Path) -> Path:
    path = tmp_path / "signed.wasm"
    path.write_bytes(claims.sign(built["misbehave"].read_bytes(), account[1], claims.generate_key("actor"),
                                 list(claims.CAPABILITIES), name="signed"))
    return path


async def test_an_issuer_trusted_at_run_time_starts_its_actors_and_is_kept(hub, start_agent, built, account,
                                                                           tmp_path: Path) -> None:
    """Trusting a new issuer needed a restart with --trust."""
    public = account[0]
    state = tmp_path / "state"
    agent = await start_agent({"signed": signed(built, account, tmp_path)}, hub=hub, state_dir=state,
                              allow_unsigned=False)
    assert agent.service.host.not_running["signed"].refused

    code, out, err = await run_cli("trust", "add", public, "--host", "test-pi", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert out.strip() == "test-pi: added; trusts 2 issuer(s); started signed", out
    assert "signed" in agent.service.host.actors
    assert json.loads((state / "trust.json").read_text()) == {"added": [public], "removed": []}

    code, out, err = await run_cli("trust", "list", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert f"    {public}  (pi-edge trust)" in out and "  (this host)" in out, out

    # Saved on the host: a restart (same configuration, no --trust) still trusts it.
    await agent.service.stop()
    agent = await start_agent({"signed": signed(built, account, tmp_path)}, hub=hub, state_dir=state,
                              allow_unsigned=False)
    assert "signed" in agent.service.host.actors

    code, out, err = await run_cli("trust", "remove", public, "--all", "--nats-url", hub.url, "--creds", str(hub.operator_path))
    assert code == 0, err
    assert out.strip() == ("test-pi: removed; trusts 1 issuer(s); stopped signed (signed by an issuer it no longer "
                           "trusts)"), out
    assert "signed" not in agent.service.host.actors and agent.service.host.not_running["signed"].refused


async def test_removing_what_the_configuration_trusts_is_kept_too(start_agent, built, account, tmp_path: Path) -> None:
    public = account[0]
    state = tmp_path / "state"
    agent = await start_agent({"signed": signed(built, account, tmp_path)}, state_dir=state, trusted=[public],
                              allow_unsigned=False)
    assert "signed" in agent.service.host.actors
    code, _out, err = await run_cli("trust", "remove", public, "--host", "test-pi", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 0, err
    await agent.service.stop()
    agent = await start_agent({"signed": signed(built, account, tmp_path)}, state_dir=state, trusted=[public],
                              allow_unsigned=False)
    assert agent.service.host.not_running["signed"].refused, "the removal outlasts a restart with the same --trust"


async def test_wrong_requests_are_refused_with_the_reason(start_agent, account) -> None:
    agent = await start_agent({})
    code, _out, err = await run_cli("trust", "add", "SAAB" + "C" * 54, "--all", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 2 and "that is a seed, which stays secret" in err, err
    code, _out, err = await run_cli("trust", "add", account[0], "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 2 and "one of the arguments --host --all is required" in err, err
    code, out, _err = await run_cli("trust", "remove", account[0], "--all", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 1 and f"issuer {account[0]} is not trusted by host test-pi; nothing to remove" in out, out
    code, out, _err = await run_cli("trust", "remove", agent.service.host.id, "--all", "--nats-url", agent.url, "--creds", str(agent.creds_path))
    assert code == 2 and "is not an account public key" in _err, _err
    nc = await connect(agent.url, name="test", credentials=agent.credentials)
    try:
        msg = await nc.request(subjects.ctl("default", "test-pi", "trust"), b'{"add": "A", "remove": "B"}', timeout=5)
        assert "give one of 'add' and 'remove', not both" in msg.data.decode()
        msg = await nc.request(subjects.ctl("default", "test-pi", "trust"), b'{"add": 5}', timeout=5)
        assert "trust: add needs an account public key" in msg.data.decode()
    finally:
        await nc.close()
