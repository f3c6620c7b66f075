"""One fine-tuning run: build data, model, TrainingArguments and Trainer from a preset, train, predict, write results.

Every step is reported as an event into the run folder's ``events.jsonl`` (and to an
optional extra sink such as the headless console). Whatever happens, including bad
input found late, a crash or out-of-memory, the run ends with a ``RunFinished`` event
and a ``results.toml``.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import config as cfg
from engine import hub, paths
from engine.callback import EventCallback, StepWatch
from engine.events import (
    EVENTS_FILE,
    DatasetReady,
    Event,
    EventLog,
    Heartbeat,
    ModelLoaded,
    RunFinished,
    RunStarted,
    RunWarning,
    Stage,
    ValidationPredictions,
    WrongExample,
)
from engine.history import HEARTBEAT_SECONDS, RunHistory
from engine.paths import MODEL_DIR, PRESET_FILE, RESULTS_FILE
from engine.stopping import STOP_FILE

WRONG_EXAMPLES = 10
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class StoppedBeforeTraining(Exception):
    """A stop request arrived while the run was still setting up."""


@dataclass
class RunOutcome:
    status: str  # completed | stopped | failed
    run_dir: Path
    results_path: Path | None
    error: str = ""
    bad_input: bool = False


def process_rank() -> tuple[int, int, int]:
    """(global rank, local rank, world size) as torchrun sets them; (0, 0, 1) when run alone."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("LOCAL_RANK", 0)), int(env.get("WORLD_SIZE", 1))


class Emitter:
    """Fans events out to the log, the in-memory history and an optional sink; silent on non-main ranks."""

    def __init__(self, log: EventLog | None, history: RunHistory, sink: Callable[[Event], None] | None):
        self.log = log
        self.history = history
        self.sink = sink
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            if self.log is not None:
                self.log(event)
            self.history.apply(event)
            if self.sink is not None:
                try:
                    self.sink(event)
                except Exception:  # a display problem must never end a training run
                    pass


class _TransformersLogHandler(logging.Handler):
    """Turns transformers' own warnings into events instead of letting them write over the terminal."""

    def __init__(self, emit: Callable[[Event], None]):
        super().__init__(level=logging.WARNING)
        self.emit_event = emit
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = _ANSI.sub("", record.getMessage()).strip()
        except Exception:
            return
        # The load report is reported from output_loading_info as a ModelLoaded event instead.
        if not text or "LOAD REPORT" in text or text in self.seen:
            return
        self.seen.add(text)
        self.emit_event(RunWarning(category="transformers", message=" ".join(text.split())[:500]))


def _quiet_libraries(emit: Callable[[Event], None]) -> Callable[[], None]:
    """Route transformers/datasets/python warnings into events; returns a function that undoes it."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_default_handler()
    handler = _TransformersLogHandler(emit)
    transformers.utils.logging.add_handler(handler)
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()

    seen: set[str] = set()
    previous_showwarning = warnings.showwarning

    def showwarning(message, category, filename, lineno, file=None, line=None):
        text = f"{category.__name__}: {message}"
        if text not in seen:
            seen.add(text)
            emit(RunWarning(category="python", message=" ".join(text.split())[:500]))

    warnings.showwarning = showwarning

    def undo() -> None:
        transformers.utils.logging.remove_handler(handler)
        transformers.utils.logging.enable_default_handler()
        warnings.showwarning = previous_showwarning

    return undo


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in (
        "fttui",
        "torch",
        "transformers",
        "datasets",
        "evaluate",
        "accelerate",
        "tokenizers",
        "textual",
    ):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _heartbeat(emit: Callable[[Event], None], stop: threading.Event, history: RunHistory) -> None:
    pid = os.getpid()
    while not stop.wait(HEARTBEAT_SECONDS):
        emit(Heartbeat(pid=pid, step=history.step))


def write_preset_file(run_dir: Path, preset: cfg.Preset) -> Path:
    from engine.results import atomic_write_toml

    path = run_dir / PRESET_FILE
    atomic_write_toml(path, preset.to_dict(), header=f"Effective preset of this run (from {preset.source}).")
    return path


def run(
    preset: cfg.Preset,
    *,
    run_dir: Path | None = None,
    sink: Callable[[Event], None] | None = None,
    stop_event: threading.Event | None = None,
    resume: bool = False,
    command: list[str] | None = None,
) -> RunOutcome:
    """Train ``preset``. Never raises for problems of the run itself; the outcome and the log say what happened."""
    hub.prepare()  # before transformers/datasets/evaluate are imported: offline mode only works then
    rank, _, world = process_rank()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    main = rank == 0
    run_dir = Path(run_dir) if run_dir else paths.runs_dir() / paths.new_run_id(preset.name)
    run_dir.mkdir(parents=True, exist_ok=True)
    stop_event = stop_event or threading.Event()

    history = RunHistory()
    if resume and (run_dir / EVENTS_FILE).exists():
        history = RunHistory.from_log(run_dir / EVENTS_FILE)
        # The console's end-of-run table and duration cover the whole run, as results.toml does;
        # it gets a copy, since it folds the coming events into its history itself.
        continue_from = getattr(sink, "continue_from", None)
        if main and continue_from is not None:
            continue_from(copy.deepcopy(history))
    log = EventLog(run_dir / EVENTS_FILE) if main else None
    emit = Emitter(log, history, sink if main else None)
    if main:
        if not resume:
            write_preset_file(run_dir, preset)
        if resume:
            # Left by the segment before (a crash after the stop was asked); a fresh run keeps
            # it: it is a stop asked for while this process was still starting.
            (run_dir / STOP_FILE).unlink(missing_ok=True)

    started = time.time()
    started_mono = time.monotonic()
    beat_stop = threading.Event()
    if main:
        threading.Thread(target=_heartbeat, args=(emit, beat_stop, history), daemon=True).start()

    device, devices = _describe_device(preset)
    emit(
        RunStarted(
            run_id=run_dir.name,
            preset=preset.name,
            config=preset.to_dict(),
            provenance=dict(preset.provenance),
            output_dir=str(run_dir.resolve()),
            device=device,
            devices=devices,
            pid=os.getpid(),
            host=socket.gethostname(),
            world_size=world,
            nproc_per_node=local_world,
            nnodes=max(1, world // local_world),
            versions=_versions(),
            command=list(command or sys.argv),
            trust_remote_code=bool(
                preset.model.get("trust_remote_code") or preset.metrics.get("trust_remote_code")
            ),
            resumed=resume,
        )
    )
    for table, what in (
        ("model", "code shipped with the checkpoint"),
        ("metrics", "metric scripts from outside evaluate"),
    ):
        if getattr(preset, table).get("trust_remote_code"):
            source = cfg.source_of(preset, table, "trust_remote_code")
            emit(
                RunWarning(
                    category="trust_remote_code",
                    message=f"[{table}] trust_remote_code is ON ({source}): {what} will run on this machine",
                )
            )
    for message in preset.warnings:
        emit(RunWarning(category="config", message=message))

    undo_quiet: Callable[[], None] = lambda: None  # noqa: E731
    callback: EventCallback | None = None
    trainer = None
    status, error, error_type, tb, bad_input = "failed", "", "", "", False
    try:
        undo_quiet = _quiet_libraries(emit)
        trainer, callback, prepared = _build(
            preset, run_dir, emit, stop_event, world, resume=resume, history=history
        )
        resume_from = paths.last_checkpoint(run_dir) if resume else None
        if resume and resume_from is None:
            emit(
                RunWarning(
                    category="resume", message="no checkpoint found in the run folder; starting from step 0"
                )
            )
        trainer.train(resume_from_checkpoint=resume_from)
        status = "stopped" if callback.stopped else "completed"
        if status == "completed":
            if main:
                emit(Stage("saving model"))
            trainer.save_model(str(run_dir / MODEL_DIR))
            if prepared.eval is not None:
                emit(Stage("predicting", "validation split"))
                _predict(trainer, prepared, emit, main)
    except StoppedBeforeTraining:
        status = "stopped"
    except cfg.PresetError as exc:
        error, error_type, bad_input = str(cfg.attributed(preset, exc)), "bad input", True
    except KeyboardInterrupt:
        kept = paths.last_checkpoint(run_dir)
        status, error_type = "stopped", "KeyboardInterrupt"
        error = (
            f"interrupted; the last complete checkpoint is {kept.name} (fttui resume continues from it)"
            if kept
            else "interrupted before the first checkpoint was written"
        )
    except Exception as exc:
        # The one-line error is what the user sees; the traceback stays in the log for a bug report.
        error, error_type, tb = _describe_error(exc, preset), type(exc).__name__, traceback.format_exc()
        if _is_oom(exc):
            error_type = "OutOfMemoryError"
    finally:
        undo_quiet()
    if world > 1 and status == "failed":
        from engine import launch

        if not main:
            launch.write_rank_error(run_dir, rank, error, error_type, tb)
        else:
            # Rank 0 usually fails second, of a broken connection: name the rank that failed first.
            time.sleep(1.0)
            cause = launch.root_cause(run_dir)
            if cause and cause["rank"] != rank:
                error, error_type, tb = (
                    f"rank {cause['rank']} failed: {cause['error']}",
                    cause["error_type"],
                    cause["traceback"],
                )
    if not main:
        return RunOutcome(status, run_dir, None, error, bad_input)

    emit(Stage("writing results"))
    from engine.results import build_results, write_results

    results_path = run_dir / RESULTS_FILE
    last_ckpt = paths.last_checkpoint(run_dir)
    best_ckpt = getattr(getattr(trainer, "state", None), "best_model_checkpoint", None) or ""
    try:
        data = build_results(
            preset=preset,
            history=history,
            status=status,
            run_dir=run_dir,
            first_started=history.first_started_time or started,
            finished=time.time(),
            active_seconds=history.finished_segments_seconds + (time.monotonic() - started_mono),
            error=error,
            last_checkpoint=str(last_ckpt or ""),
            best_checkpoint=str(best_ckpt),
            final_model=str(run_dir / MODEL_DIR) if (run_dir / MODEL_DIR).is_dir() else "",
            train_summary=callback.train_summary if callback else {},
        )
        write_results(results_path, data)
    except Exception as exc:  # results are a report; failing to write them must not hide the run's own status
        emit(RunWarning(category="results", message=f"could not write {RESULTS_FILE}: {exc}"))
        results_path = None
    emit(
        RunFinished(
            status=status,
            duration_seconds=time.monotonic() - started_mono,
            error=error,
            error_type=error_type,
            traceback=tb,
            results_path=str(results_path or ""),
            last_checkpoint=str(last_ckpt or ""),
            best_checkpoint=str(best_ckpt),
        )
    )
    beat_stop.set()
    if log is not None:
        log.close()
    return RunOutcome(status, run_dir, results_path, error, bad_input)


def _describe_device(preset: cfg.Preset) -> tuple[str, list[str]]:
    from engine import gpu

    return gpu.describe_device(bool(preset.training.get("use_cpu")))


def preflight(preset: cfg.Preset) -> str:
    """What `fttui run --check` verifies beyond the preset itself, without training: the data
    loads with its splits, columns and labels, and the checkpoint's tokenizer loads (offline,
    a hub id must be cached). Returns a one-line summary; raises ``PresetError``, named by
    where the bad value came from."""
    from engine import data as data_mod
    from engine import model_loading, preview

    hub.prepare()
    try:
        ds_spec = preview.resolve_demo(preset.dataset)
        model_spec = preview.resolve_demo(preset.model)
        raw = data_mod.load_raw(ds_spec, preset.source)
        train, evald, eval_source = data_mod.load_splits(raw, ds_spec, preset.source)
        _, _, labels = data_mod.settle_labels(train, evald, ds_spec, preset.source)
        model_loading.load_tokenizer(model_spec, preset.source)
    except cfg.PresetError as exc:
        raise cfg.attributed(preset, exc) from None
    if ds_spec.get("eval_fraction"):
        eval_rows = f"{ds_spec['eval_fraction']:g} of train for evaluation"
    else:
        eval_rows = f"{len(evald):,} eval rows ({eval_source})" if evald is not None else "no evaluation"
    what = f"{labels.num_labels} classes" if labels.task == "classification" else "regression (one output)"
    return f"{len(train):,} train rows, {eval_rows}, {what}; tokenizer of {preset.model['checkpoint']} loads"


def _check_stop(stop_event: threading.Event, run_dir: Path) -> None:
    if stop_event.is_set() or (run_dir / STOP_FILE).exists():
        raise StoppedBeforeTraining()


def _precision(training: dict[str, Any], on_gpu: bool) -> str:
    if training.get("bf16"):
        return "bf16"
    if training.get("fp16"):
        return "fp16" if on_gpu else "fp32 (fp16 ignored on CPU)"
    return "fp32"


def _build(
    preset: cfg.Preset,
    run_dir: Path,
    emit: Emitter,
    stop_event: threading.Event,
    world: int,
    *,
    resume: bool = False,
    history: RunHistory | None = None,
):
    """Data, model, TrainingArguments, Trainer: everything up to ``train()``."""
    from engine import data as data_mod
    from engine import demo, gpu, model_loading
    from engine.metrics import MetricsError, build_metrics

    on_gpu = gpu.cuda_available() and not preset.training.get("use_cpu")
    for message in cfg.check_device(
        preset, cuda_available=gpu.cuda_available(), bf16_supported=gpu.bf16_supported()
    ):
        emit(RunWarning(category="precision", message=message))

    model_spec = dict(preset.model)
    ds_spec = dict(preset.dataset)
    if demo.is_demo_ref(model_spec["checkpoint"]) or _has_demo_files(ds_spec):
        emit(Stage("preparing demo assets"))
        root = demo.ensure_assets()
        model_spec["checkpoint"] = _demo_resolve(model_spec["checkpoint"], root)
        ds_spec["files"] = _demo_resolve(ds_spec.get("files"), root)

    _check_stop(stop_event, run_dir)
    emit(Stage("loading tokenizer", model_spec["checkpoint"]))
    tokenizer = model_loading.load_tokenizer(model_spec, preset.source)

    _check_stop(stop_event, run_dir)
    emit(Stage("loading dataset", ds_spec.get("hub_id") or "local files"))
    prepared = data_mod.prepare(ds_spec, preset.source, tokenizer)
    for message in prepared.warnings:
        emit(RunWarning(category="data", message=message))
    emit(
        DatasetReady(
            train_examples=len(prepared.train),
            eval_examples=len(prepared.eval) if prepared.eval is not None else 0,
            task=prepared.labels.task,
            labels=prepared.labels.names,
            text_columns=prepared.text_columns,
            eval_source=prepared.eval_source,
            truncated_train=prepared.truncated_train,
            max_length=int(ds_spec.get("max_length") or data_mod._model_limit(tokenizer)),
        )
    )
    if prepared.truncated_train:
        share = prepared.truncated_train / max(1, len(prepared.train))
        if share >= 0.05:
            emit(
                RunWarning(
                    category="truncation",
                    message=f"{prepared.truncated_train} training examples ({share:.0%}) reach max_length and are cut",
                )
            )

    try:
        metrics = build_metrics(
            preset.metrics,
            prepared.labels.task,
            prepared.labels.num_labels,
            label_column=preset.dataset.get("label_column", "label"),
        )
    except MetricsError as exc:
        message = str(exc)
        key = "load"
        for name in ("load", "average"):
            if message.startswith(f"metrics.{name}: "):
                key, message = name, message.removeprefix(f"metrics.{name}: ")
        raise cfg.PresetError(
            cfg.source_of(preset, "metrics", key), message, key=f"[metrics] {key}"
        ) from None
    best = preset.training.get("metric_for_best_model")
    if best and best.removeprefix("eval_") not in ("loss", *metrics.names):
        # The Trainer would only find out at the first evaluation, with a KeyError.
        raise cfg.PresetError(
            cfg.source_of(preset, "training", "metric_for_best_model"),
            f"'{best}' is not a metric this run computes; expected one of {', '.join(['loss', *metrics.names])}",
            key="[training] metric_for_best_model",
        )

    _check_stop(stop_event, run_dir)
    emit(Stage("loading model", model_spec["checkpoint"]))
    from transformers import set_seed

    # The head is initialised here, before the Trainer exists: seed now or reruns differ.
    set_seed(int(preset.training.get("seed", 42)))
    model, info = model_loading.load_model(model_spec, preset.source, prepared.labels)
    positions = getattr(model.config, "max_position_embeddings", None)
    wanted = ds_spec.get("max_length")
    if isinstance(positions, int) and isinstance(wanted, int) and wanted > positions:
        # Longer inputs would index past the position embeddings mid-run ("size of tensor a ...").
        raise cfg.PresetError(
            cfg.source_of(preset, "dataset", "max_length"),
            f"{wanted} is longer than this model takes ({positions} tokens, max_position_embeddings); "
            f"set at most {positions}",
            key="[dataset] max_length",
        )
    emit(
        ModelLoaded(
            checkpoint=preset.model["checkpoint"],
            resolved_path=info["resolved"],
            architecture=type(model).__name__,
            parameters=sum(p.numel() for p in model.parameters()),
            num_labels=prepared.labels.num_labels,
            new_weights=info["missing"],
            unexpected_weights=info["unexpected"],
            mismatched_weights=info["mismatched"],
            metrics_source=metrics.source,
        )
    )
    if info["missing"] and not resume:  # on resume the checkpoint brings the trained head back
        head = all(_is_head(name) for name in info["missing"])
        note = (
            "a fresh classification head, as expected when fine-tuning"
            if head
            else "NOT only the head: check the checkpoint"
        )
        emit(
            RunWarning(
                category="load_report",
                message=f"newly initialised: {', '.join(info['missing'][:6])}{' ...' if len(info['missing']) > 6 else ''} ({note})",
            )
        )
    if info["mismatched"]:
        emit(
            RunWarning(
                category="load_report",
                message=f"re-initialised because the shapes differ: {', '.join(info['mismatched'][:6])}",
            )
        )

    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    args_kwargs = dict(preset.training)
    args_kwargs.update(output_dir=str(run_dir), disable_tqdm=True)
    if not on_gpu:
        # Pinning needs an accelerator; on a CPU box it only produces a warning.
        args_kwargs.setdefault("dataloader_pin_memory", False)
        if world > 1:
            # Without use_cpu, accelerate sees no GPU and no distributed setup: every torchrun
            # process would train alone on all the data (world size 1) without a word.
            args_kwargs.setdefault("use_cpu", True)
            args_kwargs.setdefault("ddp_backend", "gloo")
    if args_kwargs.get("dataloader_num_workers", 0) > 0:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = TrainingArguments(**args_kwargs)
    except (ValueError, TypeError) as exc:
        raise cfg.PresetError(preset.source, _one_line(exc), key="[training]") from None

    # Sequence-classification heads take **kwargs but compute a plain mean loss and ignore
    # num_items_in_batch. Left to guess, the Trainer then multiplies the loss (and the
    # gradients) by the number of processes under DDP, and skips the division by
    # gradient_accumulation_steps: N-process or accumulated runs would train with an N-times
    # larger step and log an N-times larger loss. Saying so restores the plain-mean path.
    model.accepts_loss_kwargs = False
    watch = StepWatch()
    callback = EventCallback(
        emit,
        run_dir,
        preset.watchdog,
        stop_event=stop_event,
        precision=_precision(preset.training, on_gpu),
        watch=watch,
        # A resumed run's clock goes on from where the last segment's stopped.
        elapsed_offset=history.progress.elapsed_seconds if resume and history and history.progress else 0.0,
    )
    trainer_cls = _watching_trainer(Trainer, watch)
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=prepared.train,
        eval_dataset=prepared.eval,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=metrics if prepared.eval is not None and metrics.names else None,
        callbacks=[callback],
    )
    # The UI (or our console) owns the terminal; these print over it.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    _check_stop(stop_event, run_dir)
    return trainer, callback, prepared


def _watching_trainer(trainer_cls: type, watch: StepWatch) -> type:
    """A Trainer that hands each micro-batch loss and each step's gradient norm to the watchdog.

    The loss is the one ``training_step`` returns anyway; the Trainer checks it for NaN
    itself (and hides it from the logs), so reading it costs no extra device sync.
    """

    class WatchingTrainer(trainer_cls):
        def training_step(self, *args, **kwargs):
            loss = super().training_step(*args, **kwargs)
            watch.losses.append(loss)
            return loss

    if hasattr(trainer_cls, "_get_grad_norm"):

        def _get_grad_norm(self, model, grad_norm=None):
            norm = trainer_cls._get_grad_norm(self, model, grad_norm=grad_norm)
            watch.grad_norm = norm
            return norm

        WatchingTrainer._get_grad_norm = _get_grad_norm
    return WatchingTrainer


def _is_head(name: str) -> bool:
    return any(
        part in name for part in ("classifier", "score", "pooler", "pre_classifier", "logits_proj", "head")
    )


def _has_demo_files(ds: dict[str, Any]) -> bool:
    from engine.demo import is_demo_ref

    files = ds.get("files")
    values = files.values() if isinstance(files, dict) else [files]
    flat = [v for item in values for v in (item if isinstance(item, list) else [item])]
    return any(is_demo_ref(v) for v in flat)


def _demo_resolve(value: Any, root: Path) -> Any:
    from engine.demo import is_demo_ref, resolve_ref

    if isinstance(value, dict):
        return {k: _demo_resolve(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_demo_resolve(v, root) for v in value]
    return resolve_ref(value, root) if is_demo_ref(value) else value


def _predict(trainer: Any, prepared: Any, emit: Callable[[Event], None], main: bool) -> None:
    """The course's ``trainer.predict()`` step, made visible: confusion matrix and confident mistakes."""
    import numpy as np

    output = trainer.predict(prepared.eval)
    if not main:
        return
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    metrics = {
        k.removeprefix("test_"): float(v)
        for k, v in (output.metrics or {}).items()
        if isinstance(v, (int, float)) and not k.endswith(("runtime", "per_second"))
    }
    if prepared.labels.task != "classification":
        emit(ValidationPredictions(labels=[], confusion=[], most_confident_wrong=[], metrics=metrics))
        return
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    preds = probs.argmax(axis=-1)
    refs = np.asarray(output.label_ids).reshape(-1)
    names = prepared.labels.names
    from sklearn.metrics import confusion_matrix

    confusion = confusion_matrix(refs, preds, labels=list(range(len(names))))
    wrong = np.nonzero(preds != refs)[0]
    confidence = probs[np.arange(len(preds)), preds]
    ranked = wrong[np.argsort(-confidence[wrong])][:WRONG_EXAMPLES]
    examples = [
        WrongExample(
            text=prepared.eval_texts[i][:400] if i < len(prepared.eval_texts) else "",
            label=names[int(refs[i])],
            predicted=names[int(preds[i])],
            confidence=float(confidence[i]),
        )
        for i in ranked
    ]
    emit(
        ValidationPredictions(
            labels=list(names),
            confusion=confusion.astype(int).tolist(),
            most_confident_wrong=examples,
            metrics=metrics,
        )
    )


def _is_oom(exc: BaseException) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _describe_error(exc: BaseException, preset: cfg.Preset) -> str:
    if _is_oom(exc):
        t = preset.training
        # The same rule the app's retry applies, so the advice and the retry agree.
        (batch, bs, half), (accumulation, acc, double) = cfg.oom_retry_changes(preset)
        tips = [
            f"halve {batch} ({bs} -> {half}) and double {accumulation} ({acc} -> {double})",
            "lower [dataset] max_length",
        ]
        if not (t.get("bf16") or t.get("fp16")):
            tips.append("use bf16 = true (or fp16 on older GPUs)")
        # transformers 5.x renamed it; older 5.x releases know only the old name.
        fields = cfg.training_fields()
        name = (
            "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
        )
        tips.append(f"set {name} = true")
        return f"out of GPU memory: {'; '.join(tips)}"
    return f"{type(exc).__name__}: {_one_line(exc)}"
