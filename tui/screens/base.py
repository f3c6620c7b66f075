"""The base of fttui's full screens: worker failures reach the app's one report; footers survive closing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

    @property
    def active_bindings(self) -> dict[str, Any]:
        """The keys the footer shows; none once the app has closed its screens.

        A footer redraw asked for just before the app exits (a run list refreshed, a row
        highlighted) runs after the screen stack is empty, where Textual's own lookup raises.
        """
        if not self.app.screen_stack:
            return {}
        return super().active_bindings
