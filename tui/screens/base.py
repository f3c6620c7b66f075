"""The base of fttui's full screens: their background workers' failures reach the app's one report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen
from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from tui.app import FineTuneApp


class FttuiScreen(Screen):
    """A screen whose failed workers are reported by ``FineTuneApp.report_failure``.

    Worker state messages do not bubble, so without this a screen's failed worker would
    fail silently; with it the app shows one kind of notification for all of them.
    """

    app: FineTuneApp

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_failure(event.worker)
