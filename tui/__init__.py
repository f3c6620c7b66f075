"""fttui's Textual app. Nothing here imports torch or transformers at module level."""
