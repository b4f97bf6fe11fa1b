"""From a new actor's folder to a Pi, the way its README says: build, sign, deploy; the deploy shows each
host's phase (fetching with its percent, compiling or loading, started) as it happens."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.processes import run_cli

pytestmark = pytest.mark.timeout(600)


async def test_a_new_actor_is_deployed_with_each_hosts_phases(hub, start_agent, built, cache_dir: Path,
                                                              tmp_path: Path) -> None:
    env = {"PI_EDGE_CACHE_DIR": str(cache_dir)}
    assert (await run_cli("new", "hello", "--dir", str(tmp_path)))[0] == 0
    folder = tmp_path / "hello"
    code, _out, err = await run_cli("build", ".", "-o", "hello.wasm", cwd=folder, env=env, timeout=300)
    assert code == 0, err
    code, out, err = await run_cli("keys", "gen", "account", "-o", str(tmp_path / "account.nk"))
    assert code == 0, err
    found = re.search(r"account public key: (A\w+)", out)
    assert found, out
    account = found[1]
    code, out, err = await run_cli("sign", "hello.wasm", "--issuer", str(tmp_path / "account.nk"), "--cap", "display",
                                   "--cap", "logging", "--name", "hello", cwd=folder)
    assert code == 0, err

    await start_agent({"oled-text": built["oled-text"]}, hub=hub, trusted=[account], allow_unsigned=False)
    code, out, err = await run_cli("deploy", "hello.wasm", "--name", "hello", "--nats-url", hub.url,
                                   "--creds", str(hub.operator_path), cwd=folder,
                                   timeout=300)
    assert code == 0, err
    assert re.search(r"^uploaded hello.wasm \(\d+\.\d MiB, sha256 [0-9a-f]{12}…", out, re.M), out
    assert re.search(r"^  test-pi: hello x1 running \(fetched and started in \d+\.\d s; compiled (there|code from its cache)\)$", out, re.M), out
    # stderr is not a terminal here: plain lines, each stamped with the seconds since the start
    steps = [re.sub(r"^\[ *\d+\.\d s\] ", "", line) for line in err.splitlines()]
    assert steps[:2] == ["deploy hello: finding the hosts", "deploy hello: uploading hello.wasm (" +
                         steps[1].split("(", 1)[1]], err
    assert "deploy hello: uploading 100%" in steps, err
    assert "deploy hello: starting hello on 1 host(s)" in steps, err
    phases = [re.sub(r" \(\d+\.\d s\)$", "", s) for s in steps if s.startswith("test-pi: ")]
    assert phases[0] == "test-pi: fetching" and phases[-1] == "test-pi: started", err
    assert phases[1:-1] in (["test-pi: fetched", "test-pi: compiling"], ["test-pi: fetched", "test-pi: loading"]), err
    assert re.search(r"deploy hello: test-pi fetching \d+\.\d MiB 100%", err), err

    code, out, err = await run_cli("display", "--actor", "hello", "Hi", "--nats-url", hub.url,
                                   "--creds", str(hub.operator_path))
    assert code == 0 and out.startswith("shown in 1 line(s)"), (out, err)
