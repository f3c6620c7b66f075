"""Decide once, quickly, whether the Hugging Face hub is reachable, before any HF library is imported.

Left to themselves, transformers and datasets retry an unreachable hub for 20-50 s per
file. fttui probes once with a short timeout; when the hub is out of reach it switches the
libraries to offline mode (which only takes effect if set before they are imported), so
cached files still load and everything else fails at once with a message fttui words.
"""

from __future__ import annotations

import os
import threading
import urllib.error
import urllib.request

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT = 4.0

_probe_result: bool | None = None


def endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def offline_forced() -> bool:
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on") for var in OFFLINE_VARS)


def _probe(result: list[bool]) -> None:
    request = urllib.request.Request(f"{endpoint()}/api/models?limit=1", method="HEAD")
    try:
        urllib.request.urlopen(request, timeout=PROBE_TIMEOUT).close()
        result.append(True)
    except urllib.error.HTTPError:
        result.append(True)  # it answered; an HTTP error still means reachable
    except Exception:
        result.append(False)


def reachable() -> bool:
    """Whether the hub answers; the probe runs once per process and never takes longer than ~5 s.

    The probe runs in a daemon thread so a DNS lookup that hangs cannot hold us up.
    """
    global _probe_result
    if _probe_result is None:
        if offline_forced():
            _probe_result = False
        else:
            result: list[bool] = []
            thread = threading.Thread(target=_probe, args=(result,), daemon=True)
            thread.start()
            thread.join(PROBE_TIMEOUT + 1.0)
            _probe_result = bool(result and result[0])
    return _probe_result


def go_offline() -> None:
    for var in OFFLINE_VARS:
        os.environ[var] = "1"


def prepare() -> bool:
    """Probe the hub and switch the HF libraries to offline mode if it is out of reach.

    Must run before transformers, datasets or evaluate are imported. Returns reachability.
    """
    online = reachable()
    if not online:
        go_offline()
    return online


def unreachable_model_message(checkpoint: str) -> str:
    return (
        f"model '{checkpoint}': the Hugging Face hub ({endpoint()}) could not be reached and the checkpoint "
        "is not in the local cache; point [model] checkpoint at a local folder with config.json "
        f"(e.g. --set model.checkpoint=/path/to/{checkpoint.split('/')[-1]})"
    )


def unreachable_dataset_message(hub_id: str, config: str | None) -> str:
    name = f"{hub_id}" + (f" ({config})" if config else "")
    return (
        f"dataset '{name}': the Hugging Face hub ({endpoint()}) could not be reached and it is not in the "
        'local cache; use local files instead: [dataset] files = { train = "train.csv", validation = "dev.csv" }'
    )
