"""The Wasm sandbox's own cost per message: oled-text's work done as plain Python against the
built oled-text actor called through ComponentInstance, each on an identical OledProvider.

(a) plain: ``OledProvider.show_text`` (which runs providers.oled's layout and
hands the frame to the display) with the options the actor uses (centre, wrap,
largest font that fits), the same log line and the same reply string.
(b) actor: ``ComponentInstance.call(Message(...))`` of the built component, whose
``display`` import is bound to its own OledProvider.  Same texts, interleaved
message by message (the order alternates), median per message and the ratio.
Then (b) again under cProfile: the top functions by total time.

    .venv/bin/python bench/overhead.py [--messages 1000] [--profile 300] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import time
from pathlib import Path

from common import CACHE, ROOT, write_result
from plain_sign import show as plain

from pi_edge.agent.lattice import subjects
from pi_edge.agent.wasm.build import build_actor
from pi_edge.agent.wasm.instance import ComponentInstance, Message
from pi_edge.agent.wasm.limits import Limits
from pi_edge.agent.wasm.runtime import Runtime
from pi_edge.providers.oled import DisplayConfig, OledProvider
from pi_edge.providers.oled.testing import FakeSSD1306Bus

SUBJECT = subjects.actor(subjects.DEFAULT_LATTICE, "oled-text")


def texts(count: int) -> list[str]:
    """Short and long, one line and several: what people send a sign."""
    shapes = ["Hello {i}", "Meeting room {i} free", "Build #{i} passed on main, deploy at 14:00",
              "Temperature {i} C", "The quick brown fox jumps over the lazy dog, message number {i}"]
    return [shapes[i % len(shapes)].format(i=i) for i in range(count)]


def measure(messages: int, profile_calls: int) -> dict[str, object]:
    wasm = build_actor(ROOT / "actors" / "oled_text", CACHE).path
    runtime = Runtime(cache_dir=CACHE)
    config = DisplayConfig(display="ssd1306")
    plain_provider = OledProvider(config, bus=FakeSSD1306Bus())
    actor_provider = OledProvider(config, bus=FakeSSD1306Bus())
    try:
        instance = ComponentInstance(runtime, runtime.load_file("oled-text", wasm), actor_provider, Limits())

        def actor(text: str) -> bytes:
            return instance.call(Message(SUBJECT, text.encode()))

        batch = texts(messages)
        for text in batch[:20]:  # warm up both, and check they say the same thing
            a, b = plain(plain_provider, text), actor(text)
            if a != b:
                raise SystemExit(f"overhead bench: FAILED: plain said {a!r}, the actor {b!r}")
        plain_us: list[float] = []
        actor_us: list[float] = []
        for i, text in enumerate(batch):
            order = ((plain_us, plain, plain_provider), (actor_us, actor, None))
            for samples, run, prov in (order if i % 2 == 0 else order[::-1]):
                t0 = time.perf_counter()
                run(prov, text) if prov is not None else run(text)  # type: ignore[operator]
                samples.append((time.perf_counter() - t0) * 1e6)
        if plain_provider.snapshot().to_json() != actor_provider.snapshot().to_json():
            raise SystemExit("overhead bench: FAILED: the two panels show different pictures")
        profiler = cProfile.Profile()
        profile_texts = texts(profile_calls)
        profiler.enable()
        for text in profile_texts:
            actor(text)
        profiler.disable()
        stats = pstats.Stats(profiler)
        total = stats.total_tt  # type: ignore[attr-defined]
        rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:5]  # type: ignore[attr-defined]
        top = [{"function": f"{Path(file).name}:{line}({name})" if file != "~" else name,
                "calls": nc, "tottime_s": round(tt, 4), "share": round(tt / total, 3),
                "per_message_us": round(tt / profile_calls * 1e6, 1)}
               for (file, line, name), (_cc, nc, tt, _ct, _callers) in rows]
    finally:
        runtime.close()
        plain_provider.close()
        actor_provider.close()
    p, a = statistics.median(plain_us), statistics.median(actor_us)
    # The texts differ a lot in cost (fit search), so also pair each message with its own baseline.
    paired_diff = statistics.median(y - x for x, y in zip(plain_us, actor_us, strict=False))
    paired_ratio = statistics.median(y / x for x, y in zip(plain_us, actor_us, strict=False))
    return {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "messages": messages,
        "plain_python_us": {"p50": p, "mean": statistics.fmean(plain_us)},
        "wasm_actor_us": {"p50": a, "mean": statistics.fmean(actor_us)},
        "ratio_p50": a / p,
        "sandbox_us_per_message": paired_diff,
        "paired_ratio_median": paired_ratio,
        "profile": {"calls": profile_calls, "total_s": round(total, 4), "top_by_tottime": top},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--profile", type=int, default=300, help="actor calls run under cProfile")
    parser.add_argument("--quick", action="store_true", help="smoke run: --messages 100 --profile 50")
    args = parser.parse_args()
    messages, profile = (100, 50) if args.quick else (args.messages, args.profile)
    result = measure(messages, profile)
    p, a = result["plain_python_us"], result["wasm_actor_us"]
    print(f"sandbox overhead per message, oled-text show, {messages} messages ({result['machine']})")
    print(f"{'path':<40}{'p50 us':>10}{'mean us':>10}")
    print(f"{'plain Python (layout + show_text)':<40}{p['p50']:>10.0f}{p['mean']:>10.0f}")  # type: ignore[index]
    print(f"{'Wasm actor (ComponentInstance.call)':<40}{a['p50']:>10.0f}{a['mean']:>10.0f}")  # type: ignore[index]
    print(f"ratio of the p50s: x{result['ratio_p50']:.2f}; same message, actor minus plain, median: "
          f"{result['sandbox_us_per_message']:.0f} us (x{result['paired_ratio_median']:.3f}): the sandbox's own cost")
    prof = result["profile"]
    print(f"\nactor path under cProfile, {prof['calls']} calls, top 5 by total time (the calling thread)")  # type: ignore[index]
    print(f"{'function':<58}{'calls':>7}{'tottime s':>10}{'share':>7}{'us/msg':>8}")
    for row in prof["top_by_tottime"]:  # type: ignore[index]
        print(f"{row['function'][:57]:<58}{row['calls']:>7}{row['tottime_s']:>10.4f}{row['share']:>7.1%}"
              f"{row['per_message_us']:>8.1f}")
    write_result("overhead", result)


if __name__ == "__main__":
    main()
