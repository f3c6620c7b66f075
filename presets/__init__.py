"""Built-in fttui presets, shipped as TOML data files."""
