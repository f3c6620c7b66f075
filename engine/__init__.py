"""fttui's headless core: presets, the Trainer run, its event log and results. Never imports textual."""

__version__ = "0.1.0"
