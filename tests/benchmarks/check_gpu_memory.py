"""GPU check: fttui's GPU memory figures against torch.cuda's own, on a bert-base-sized model built locally.

    python tests/benchmarks/check_gpu_memory.py [--steps 60] [--batch 32] [--bf16]

Builds a BERT with bert-base's shape (12 layers, hidden 768) from a config with the demo's
tokenizer (the hub is not needed), trains it through fttui on the demo's generated data,
then prints the peak/allocated/reserved/total figures fttui logged per device next to
torch.cuda.max_memory_allocated / memory_reserved read directly in this process after the
run. Evaluation is off so that the last figure fttui logs (at the end of training) and the
direct reading cover the same work. On a machine without CUDA it says so and exits.
Not a test: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(var, "1")


def gib(n: int) -> str:
    return f"{n / 2**30:.3f} GiB ({n} bytes)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no CUDA device on this machine: nothing to check")
        return 0

    import transformers

    from engine import config as cfg
    from engine import demo, runner
    from engine.events import GpuMemory, read_events

    work = Path(tempfile.mkdtemp(prefix="fttui-gpu-check-"))
    os.environ["FTTUI_HOME"] = str(work / "home")
    assets = demo.ensure_assets()
    checkpoint = work / "bert-base-sized"
    tokenizer = transformers.AutoTokenizer.from_pretrained(assets / demo.MODEL_DIR)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer), max_position_embeddings=512
    )  # bert-base shape
    transformers.BertModel(config).save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    params = sum(p.numel() for p in transformers.BertModel(config).parameters())
    print(
        f"model: BERT {config.num_hidden_layers} layers, hidden {config.hidden_size}, {params / 1e6:.1f}M parameters"
    )

    overrides = [
        f"model.checkpoint={checkpoint}",
        'dataset.eval_split=""',
        "training.eval_strategy=no",
        "training.save_strategy=no",
        f"training.max_steps={args.steps}",
        f"training.per_device_train_batch_size={args.batch}",
        "training.learning_rate=5e-5",
    ]
    if args.bf16:
        overrides.append("training.bf16=true")
    preset = cfg.resolve("demo", overrides)
    torch.cuda.reset_peak_memory_stats()
    outcome = runner.run(preset, run_dir=work / "run")
    print(f"run: {outcome.status} {outcome.error}")
    direct_peak = torch.cuda.max_memory_allocated(0)
    direct_reserved = torch.cuda.memory_reserved(0)

    samples = [
        e for e in read_events(work / "run" / "events.jsonl") if isinstance(e, GpuMemory) and e.devices
    ]
    if not samples:
        print("fttui logged no GPU memory figures: FAIL")
        return 1
    last = samples[-1].devices[0]
    logged_peak = max(d.peak for s in samples for d in s.devices if d.index == 0)
    print(f"device: {last.name}, total {gib(last.total)}, NVML used {gib(last.used) if last.used else 'n/a'}")
    print(f"{len(samples)} GpuMemory events, devices per event: {len(samples[-1].devices)}")
    print(f"peak allocated   fttui {gib(logged_peak)}   torch.cuda.max_memory_allocated {gib(direct_peak)}")
    print(
        f"reserved (last)  fttui {gib(last.reserved)}   torch.cuda.memory_reserved      {gib(direct_reserved)}"
    )
    ratio = logged_peak / direct_peak if direct_peak else float("nan")
    print(f"peak ratio fttui/torch: {ratio:.4f}  {'MATCH' if abs(ratio - 1) < 0.01 else 'DIFFERS'}")
    print(f"work folder: {work}")
    return 0 if abs(ratio - 1) < 0.01 else 1


if __name__ == "__main__":
    sys.exit(main())
