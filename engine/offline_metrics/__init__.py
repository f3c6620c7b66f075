"""fttui's shipped evaluate metric module, loaded by path when the Hugging Face hub is out of reach."""

from pathlib import Path

# evaluate copies a local metric script into its modules cache and imports it from there,
# so the script must stay a single self-contained file; engine code refers to it by path.
MODULE_PATH = Path(__file__).resolve().with_name("fttui_metrics.py")
