"""Bad input on the laptop's command line: a specific error, a non-zero exit, no traceback, nothing left
behind, and nothing sent to the lattice (the URL given here answers nothing, so a command that tried to
connect would fail with a different message)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pi_edge.agent.display.screen import Screen
from pi_edge.agent.errors import OutputError
from pi_edge.agent.files import write_output
from tests.processes import run_cli

NOWHERE = ("--nats-url", "nats://127.0.0.1:9")


def refused(code: int, err: str) -> str:
    """The error line of a command that must have been refused as the user's mistake."""
    assert code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "what"), [
    (["display", "hi", "--actor", "bad.name"], "argument --actor: actor name 'bad.name'"),
    (["clear", "--lattice", "a.b"], "argument --lattice: lattice name 'a.b'"),
    (["hosts", "--lattice", "a b"], "argument --lattice: lattice name 'a b'"),
    (["inventory", "pi.01"], "argument HOST: host name 'pi.01'"),
    (["snapshot", "--host", "pi.*"], "argument --host: host name 'pi.*'"),
    (["watch", "--host", "a.b"], "argument --host: host name 'a.b'"),
    (["events", "--host", ">"], "argument --host: host name '>'"),
    (["link", "put", "sign", "pi.a-display"], "argument PROVIDER: provider name 'pi.a-display'"),
    (["link", "del", "si.gn"], "argument ACTOR: actor name 'si.gn'"),
    (["stop", "si.gn"], "argument NAME: actor name 'si.gn'"),
    (["scale", "si.gn", "2"], "argument NAME: actor name 'si.gn'"),
    (["deploy", "x.wasm", "--name", "si.gn"], "argument --name: actor name 'si.gn'"),
])
async def test_a_name_that_is_not_a_subject_token_is_refused_before_connecting(argv: list[str], what: str) -> None:
    line = refused(*(await run_cli(*argv, *NOWHERE))[::2])
    assert what in line and "use letters, digits, '-' and '_' only" in line


@pytest.mark.parametrize(("argv", "what"), [
    (["scale", "sign", "0"], "argument N: scale 0 is outside 1..16"),
    (["scale", "sign", "many"], "argument N: 'many' is not a whole number"),
    (["deploy", "x.wasm", "--name", "sign", "--scale", "17"], "argument --scale: scale 17 is outside 1..16"),
    (["events", "--kind", "bogus"], "argument --kind: invalid choice: 'bogus' (choose from 'host-started'"),
])
async def test_numbers_and_kinds_out_of_range_are_refused(argv: list[str], what: str) -> None:
    assert what in refused(*(await run_cli(*argv, *NOWHERE))[::2])


@pytest.mark.parametrize("argv", [["stop", "sign", "--label", "room"], ["scale", "sign", "2", "--label", "=kitchen"]])
async def test_a_label_that_is_not_key_value_is_refused_before_connecting(argv: list[str]) -> None:
    line = refused(*(await run_cli(*argv, *NOWHERE))[::2])
    assert f"label {argv[-1]!r} is not KEY=VALUE" in line, line


async def test_deploying_a_file_that_is_not_a_component_uploads_nothing(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not wasm\n")
    line = refused(*(await run_cli("deploy", str(text), "--name", "sign", *NOWHERE))[::2])
    assert line == (f"pi-edge: error: {text} is not a WebAssembly component; deploy a file made by "
                    "'pi-edge build ACTOR_DIR -o FILE.wasm'")


async def test_a_seed_file_that_is_not_there_is_named(built, tmp_path: Path) -> None:
    wasm = tmp_path / "sign.wasm"
    wasm.write_bytes(built["oled-text"].read_bytes())
    line = refused(*(await run_cli("sign", str(wasm), "--issuer", str(tmp_path / "account.nk")))[::2])
    assert f"cannot read a seed from {tmp_path / 'account.nk'}: No such file or directory" in line


async def test_an_output_that_cannot_be_written_is_one_line(built, cache_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import ROOT

    for target, reason in ((tmp_path, "is a directory; name a file to write"),
                           (Path("/proc/pi-edge.wasm"), "cannot write /proc/pi-edge.wasm")):
        code, _, err = await run_cli("build", str(ROOT / "actors" / "oled_text"), "--cache-dir", str(cache_dir),
                                     "-o", str(target))
        assert reason in refused(code, err)
    assert list(tmp_path.iterdir()) == []


def test_write_output_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "new" / "dir" / "out.bin"
    assert write_output(target, b"first") == target and target.read_bytes() == b"first"
    write_output(target, b"second")
    assert target.read_bytes() == b"second" and sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]
    (tmp_path / "blocker").write_text("a file where a directory should be")
    with pytest.raises(OutputError, match="cannot write .*blocker/out.bin: cannot make its directory: File exists"):
        write_output(tmp_path / "blocker" / "out.bin", b"x")


def test_a_png_saved_over_a_directory_is_refused_and_leaves_no_stray_file(tmp_path: Path) -> None:
    """It used to write '.<dir>.tmp' beside the directory and then fail to rename it."""
    folder = tmp_path / "shots"
    folder.mkdir()
    with pytest.raises(OutputError, match="shots is a directory"):
        Screen.of(Image.new("1", (8, 8))).write_png(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shots"]


async def test_a_port_in_use_is_named_in_one_short_line() -> None:
    """nats-server's whole start-up log used to be the message, its reason at the very end."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _out, err = await run_cli("hub", "--listen", "127.0.0.1", "--port", str(port), "--leafnode-port", "0")
    line = err.strip().splitlines()[-1]
    assert code != 0 and "Traceback" not in err, err
    assert f"its client port 127.0.0.1:{port} is in use" in line and "pick another with --port (0 picks" in line, line
    assert "[INF]" not in line and "Starting nats-server" not in line, line


async def test_sign_takes_only_seeds_of_the_right_kind(built, tmp_path: Path) -> None:
    """Hosts trust account keys as issuers: claims signed with any other key could never run anywhere."""
    wasm = tmp_path / "sign.wasm"
    wasm.write_bytes(built["oled-text"].read_bytes())
    seeds = {}
    for kind in ("account", "actor", "host"):
        seeds[kind] = tmp_path / f"{kind}.nk"
        assert (await run_cli("keys", "gen", kind, "-o", str(seeds[kind])))[0] == 0
    for argv, what in [
        (["--issuer", str(seeds["actor"])], "--issuer needs an account seed, got an actor seed"),
        (["--issuer", str(seeds["host"])], "--issuer needs an account seed, got a host seed"),
        (["--issuer", str(seeds["account"]), "--actor-seed", str(seeds["account"])],
         "--actor-seed needs an actor seed, got an account seed"),
        (["--issuer", str(wasm)], f"{wasm} does not hold a seed (it is not text)"),
        (["--issuer", str(seeds["account"]), "--expires", "0d"], "claims that expire at once could never run"),
    ]:
        assert what in refused(*(await run_cli("sign", str(wasm), *argv))[::2])
    assert wasm.read_bytes() == built["oled-text"].read_bytes()  # nothing was signed


@pytest.mark.parametrize(("argv", "what"), [
    (["display", "hi", "--timeout", "0"], "argument --timeout: 0 s: a timeout must be more than 0 seconds"),
    (["hosts", "--timeout", "soon"], "argument --timeout: 'soon' is not a number of seconds"),
    (["events", "--count", "-1"], "argument --count: -1 is not a count: give 1 or more"),
    (["watch", "--frames", "0"], "argument --frames: 0 is not a count: give 1 or more"),
])
async def test_timeouts_and_counts_must_make_sense(argv: list[str], what: str) -> None:
    assert what in refused(*(await run_cli(*argv, *NOWHERE))[::2])


async def test_an_http_listen_address_that_does_not_resolve_is_named() -> None:
    code, _, err = await run_cli("hub", "--listen", "127.0.0.1", "--port", "0", "--leafnode-port", "0",
                                 "--http", "0", "--http-listen", "nosuch.invalid")
    line = err.strip().splitlines()[-1]
    assert code != 0 and "Traceback" not in err, err
    assert "cannot serve HTTP on nosuch.invalid:0:" in line and "Unknown error" not in line, line
    assert "--http-listen must be an address or a name of this machine" in line, line
