"""The `fttui` command: headless commands go to the engine; no command (or `attach`) opens the app."""

from __future__ import annotations

import sys


def open_app(attach: str | None = None) -> int:
    from tui.app import run_app

    return run_app(attach=attach)


def main(argv: list[str] | None = None) -> int:
    from engine.cli import main as engine_main

    return engine_main(argv, open_app=open_app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
