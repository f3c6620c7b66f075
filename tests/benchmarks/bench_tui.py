"""Benchmark the app: time to first paint of `fttui`, time of `fttui --help`, key latency under a 1,000 events/s stream.

Run: python tests/benchmarks/bench_tui.py [--runs N]   (not collected by pytest)

- First paint: `fttui` is started in a pseudo-terminal (a real terminal driver) with
  FTTUI_FIRST_PAINT_FILE set; the app writes the wall-clock time of its first frame there
  and exits. Measured from just before the process is spawned.
- --help: wall time of `fttui --help`, start to exit.
- Key latency: the app follows a run whose events.jsonl grows at 1,000 events/s; Pilot
  presses `?` (help opens) and `q` (help closes) and the time until the new screen is laid
  out is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FIRST_PAINT_TARGET = 1.0
HELP_TARGET = 0.3
KEY_TARGET = 0.100
EVENTS_PER_SECOND = 1000


def fttui_command() -> list[str]:
    script = Path(sys.executable).with_name("fttui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]


def verdict(value: float, target: float) -> str:
    return f"{'PASS' if value <= target else 'FAIL'} (target <= {target:g} s, {value / target:.0%} of it)"


def first_paint_seconds(home: Path) -> float:
    """Spawn `fttui` on a pty sized 120x40 and return spawn -> first frame."""
    paint_file = home / "first-paint.txt"
    paint_file.unlink(missing_ok=True)
    env = dict(
        os.environ, FTTUI_HOME=str(home), FTTUI_FIRST_PAINT_FILE=str(paint_file), TERM="xterm-256color"
    )
    env.update(COLUMNS="120", LINES="40")
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def drain() -> None:
        # The app blocks on a full pty buffer if nobody reads its output.
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    started = time.time()
    proc = subprocess.Popen(fttui_command(), stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    try:
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return float(paint_file.read_text().strip()) - started


def help_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([*fttui_command(), "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def synthetic_events(run_dir: Path):
    """An endless, plausible event stream: progress every step, a loss every 5, memory every 10."""
    from engine.events import GpuMemory, Heartbeat, Progress, RunStarted, StepLoss, TrainingPlan, to_json

    yield to_json(
        RunStarted(
            run_id=run_dir.name,
            preset="demo",
            config={},
            provenance={},
            output_dir=str(run_dir),
            device="CPU (benchmark stream)",
            devices=[],
            pid=os.getpid(),
            host=socket.gethostname(),
        )
    )
    total = 10_000_000
    yield to_json(
        TrainingPlan(
            total_steps=total,
            num_epochs=3,
            train_examples=1,
            global_batch_size=32,
            steps_per_epoch=total // 3,
            precision="fp32",
        )
    )
    step = 0
    while True:
        step += 1
        yield to_json(Progress(step, total, step / (total / 3), 500.0, 1000.0, step / 100))
        if step % 5 == 0:
            yield to_json(StepLoss(step=step, epoch=step / (total / 3), loss=1.0 / (1 + step / 500)))
        if step % 10 == 0:
            yield to_json(GpuMemory(step=step, devices=[]))
        if step % 1000 == 0:
            yield to_json(Heartbeat(pid=os.getpid(), step=step))


def stream_events(path: Path, stop: threading.Event, counter: list[int]) -> None:
    """Append events at EVENTS_PER_SECOND, in 10 ms slices, like a fast run's log."""
    events = synthetic_events(path.parent)
    started = time.perf_counter()
    with path.open("a", encoding="utf-8") as log:
        while not stop.is_set():
            due = int((time.perf_counter() - started) * EVENTS_PER_SECOND) - counter[0]
            if due > 0:
                log.write("".join(next(events) + "\n" for _ in range(due)))
                log.flush()
                counter[0] += due
            time.sleep(0.01)


async def key_latencies(home: Path, presses: int) -> tuple[list[float], int, float]:
    from tui.app import FineTuneApp
    from tui.screens.help import HelpScreen
    from tui.screens.run import RunScreen

    run_dir = home / "runs" / "20260101-000000-bench-0001"
    run_dir.mkdir(parents=True)
    log = run_dir / "events.jsonl"
    log.touch()
    stop, counter = threading.Event(), [0]
    writer = threading.Thread(target=stream_events, args=(log, stop, counter), daemon=True)
    app = FineTuneApp(attach=run_dir)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        writer.start()
        stream_started = time.perf_counter()
        await pilot.pause(2.0)  # let the stream and the view settle into their rhythm

        async def measure(key: str, arrived) -> None:
            started = time.perf_counter()
            press = asyncio.create_task(pilot.press(key))
            while not arrived():
                await asyncio.sleep(0.001)
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"key {key!r} had no effect within 10 s")
            latencies.append(time.perf_counter() - started)
            await press

        def help_shown() -> bool:
            screen = app.screen
            if not isinstance(screen, HelpScreen):
                return False
            dialog = screen.query("#help-dialog")
            return bool(dialog) and dialog.first().region.height > 0

        def run_view_shown() -> bool:
            return isinstance(app.screen, RunScreen)

        for _ in range(presses // 2):
            await measure("question_mark", help_shown)
            await pilot.pause(0.2)
            await measure("q", run_view_shown)
            await pilot.pause(0.2)
        elapsed = time.perf_counter() - stream_started
        stop.set()
        screen = app.screen
        assert isinstance(screen, RunScreen)
        seen = screen.history.events_seen
    writer.join(timeout=2)
    return latencies, seen, counter[0] / elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions of the start-up measurements")
    parser.add_argument("--presses", type=int, default=30, help="key presses to time")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fttui-bench-") as tmp:
        home = Path(tmp)
        first_paint_seconds(home)  # warm the file cache; not counted
        paints = [first_paint_seconds(home) for _ in range(args.runs)]
        helps = [help_seconds() for _ in range(args.runs)]
        latencies, seen, rate = asyncio.run(key_latencies(home, args.presses))

    paint, helped = statistics.median(paints), statistics.median(helps)
    key_median, key_p95 = statistics.median(latencies), percentile(latencies, 0.95)
    print(f"fttui benchmark ({args.runs} runs each; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs)")
    print(f"  time to first paint (median): {paint:.3f} s   {verdict(paint, FIRST_PAINT_TARGET)}")
    print(f"      all runs: {', '.join(f'{v:.3f}' for v in paints)}")
    print(f"  fttui --help (median):        {helped:.3f} s   {verdict(helped, HELP_TARGET)}")
    print(f"      all runs: {', '.join(f'{v:.3f}' for v in helps)}")
    print(
        f"  key latency under a replayed stream of {rate:,.0f} events/s ({seen:,} events folded, {len(latencies)} presses):"
    )
    print(f"      median {key_median * 1000:.1f} ms   {verdict(key_median, KEY_TARGET)}")
    print(f"      p95    {key_p95 * 1000:.1f} ms   {verdict(key_p95, KEY_TARGET)}")
    print(f"      max    {max(latencies) * 1000:.1f} ms")
    ok = paint <= FIRST_PAINT_TARGET and helped <= HELP_TARGET and key_p95 <= KEY_TARGET
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
