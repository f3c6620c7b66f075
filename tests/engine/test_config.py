"""Presets: layering, provenance, and every kind of bad input with its exact one-line message."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from engine import config as cfg
from tests.conftest import run_cli


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Messages show preset paths relative to the working folder, as a user sees them."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(ref, *overrides: str, check_training: bool = True, edits: tuple[str, ...] = ()) -> str:
    with pytest.raises(cfg.PresetError) as info:
        cfg.resolve(str(ref), list(overrides), list(edits), check_training=check_training)
    return str(info.value)


# -- good presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["glue-mrpc", "glue-sst2", "demo", "local-csv"])
def test_builtin_presets_validate(name):
    preset = cfg.resolve(name)
    assert preset.name == name
    assert preset.description
    assert preset.model["checkpoint"]
    assert preset.training["eval_strategy"] == "epoch"


def test_glue_mrpc_is_the_course_run():
    p = cfg.resolve("glue-mrpc")
    assert p.model["checkpoint"] == "bert-base-uncased"
    assert (p.dataset["hub_id"], p.dataset["config"]) == ("glue", "mrpc")
    assert p.dataset["text_columns"] == ["sentence1", "sentence2"]
    assert p.metrics["load"] == ["glue:mrpc"]
    assert p.training["num_train_epochs"] == 3
    assert p.training["learning_rate"] == 5e-5


def test_extends_merges_tables_key_by_key_and_records_provenance():
    p = cfg.resolve("glue-sst2")
    assert p.dataset["config"] == "sst2"  # child
    assert p.dataset["hub_id"] == "glue"  # parent
    assert p.model["checkpoint"] == "bert-base-uncased"
    assert p.provenance["dataset.config"] == "glue-sst2 (built-in preset)"
    assert p.provenance["dataset.hub_id"] == "glue-mrpc (built-in preset)"
    assert p.provenance["training.logging_steps"] == cfg.DEFAULTS_SOURCE


def test_precedence_set_beats_edit_beats_preset_beats_default(tmp_path):
    child = write(
        tmp_path,
        "child.toml",
        """
        extends = "demo"
        [training]
        learning_rate = 0.01
        logging_steps = 5
        """,
    )
    p = cfg.resolve(
        child,
        overrides=["training.learning_rate=3e-5"],
        edit_overrides=["training.learning_rate=0.5", "training.num_train_epochs=2"],
    )
    assert p.training["learning_rate"] == 3e-5
    assert p.provenance["training.learning_rate"] == "--set training.learning_rate=3e-5"
    assert p.training["num_train_epochs"] == 2
    assert p.provenance["training.num_train_epochs"] == cfg.EDIT_SOURCE
    assert p.training["logging_steps"] == 5
    assert p.provenance["training.logging_steps"] == "child.toml" or p.provenance[
        "training.logging_steps"
    ].endswith("child.toml")
    assert p.training["save_total_limit"] == 2
    assert p.provenance["training.save_total_limit"] == cfg.DEFAULTS_SOURCE


def test_set_values_are_read_as_toml_with_bare_strings_allowed():
    assert cfg.parse_override("training.learning_rate=3e-5") == ("training", "learning_rate", 3e-5)
    assert cfg.parse_override("training.fp16=true") == ("training", "fp16", True)
    assert cfg.parse_override('dataset.text_columns=["a", "b"]') == ("dataset", "text_columns", ["a", "b"])
    assert cfg.parse_override("model.checkpoint=bert-base-cased") == (
        "model",
        "checkpoint",
        "bert-base-cased",
    )


def test_relative_paths_are_relative_to_the_preset_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\na,0\nb,1\n", encoding="utf-8")
    path = write(
        tmp_path,
        "p.toml",
        """
        [model]
        checkpoint = "demo:tiny-bert"
        [dataset]
        files = "data/train.csv"
        text_columns = "text"
        eval_fraction = 0.5
        """,
    )
    p = cfg.resolve(path)
    assert p.dataset["files"] == str(tmp_path / "data" / "train.csv")
    assert p.dataset["text_columns"] == ["text"]
    assert p.has_eval


def test_empty_string_clears_an_inherited_hub_dataset(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tb\n", encoding="utf-8")
    path = write(
        tmp_path,
        "local.toml",
        """
        extends = "glue-mrpc"
        [dataset]
        hub_id = ""
        files = { train = "train.tsv", validation = "train.tsv" }
        """,
    )
    p = cfg.resolve(path)
    assert not p.dataset["hub_id"] and p.dataset["files"]["train"].endswith("train.tsv")


def test_to_dict_is_a_complete_preset_that_resolves_to_the_same_values(tmp_path):
    from engine.results import atomic_write_toml

    p = cfg.resolve("glue-sst2", overrides=["training.learning_rate=2e-5"])
    path = tmp_path / "effective.toml"
    atomic_write_toml(path, p.to_dict())
    again = cfg.resolve(path)
    for table in cfg.TABLES:
        assert getattr(again, table) == getattr(p, table)


# -- bad input: exact messages -------------------------------------------------------------------


def test_unknown_training_key_names_the_closest(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[training]\nlearning_rat = 3e-5\n')
    assert error_of(path) == "bad.toml: [training] learning_rat: unknown key; did you mean 'learning_rate'?"


def test_unknown_key_in_our_own_tables(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[dataset]\ntext_column = ["a"]\n')
    assert (
        error_of(path, check_training=False)
        == "bad.toml: [dataset] text_column: unknown key; did you mean 'text_columns'?"
    )
    path = write(tmp_path, "bad2.toml", 'extends = "glue-mrpc"\n[model]\ncheckpont = "x"\n')
    assert (
        error_of(path, check_training=False)
        == "bad2.toml: [model] checkpont: unknown key; did you mean 'checkpoint'?"
    )


def test_unknown_table_and_top_level_key(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[trainig]\nseed = 1\n')
    assert error_of(path) == "bad.toml: [trainig]: unknown table; did you mean [training]?"
    path = write(tmp_path, "bad2.toml", 'extend = "glue-mrpc"\n')
    assert error_of(path) == "bad2.toml: extend: unknown top-level key; did you mean 'extends'?"


def test_unknown_key_from_the_command_line():
    assert (
        error_of("glue-mrpc", "training.num_epochs=2")
        == "--set training.num_epochs=2: [training] num_epochs: unknown key; did you mean 'num_train_epochs'?"
    )
    assert (
        error_of("glue-mrpc", "trainer.seed=1")
        == "--set trainer.seed=1: unknown table 'trainer'; did you mean 'training'? (tables: model, dataset, metrics, training, watchdog)"
    )
    assert error_of("glue-mrpc", "learning_rate") == (
        "--set learning_rate: expected TABLE.KEY=VALUE, e.g. training.learning_rate=3e-5"
    )


def test_wrong_types(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[training]\nnum_train_epochs = "three"\n')
    assert (
        error_of(path) == 'bad.toml: [training] num_train_epochs: expected a number, got "three" (a string)'
    )
    path = write(
        tmp_path, "bad2.toml", 'extends = "glue-mrpc"\n[training]\nper_device_train_batch_size = 8.5\n'
    )
    assert (
        error_of(path)
        == "bad2.toml: [training] per_device_train_batch_size: expected an integer, got 8.5 (a number)"
    )
    path = write(tmp_path, "bad3.toml", 'extends = "glue-mrpc"\n[training]\nfp16 = "yes"\n')
    assert error_of(path) == 'bad3.toml: [training] fp16: expected true or false, got "yes" (a string)'
    path = write(tmp_path, "bad4.toml", 'extends = "glue-mrpc"\n[dataset]\nmax_length = "long"\n')
    assert error_of(path) == 'bad4.toml: [dataset] max_length: expected an integer, got "long" (a string)'
    path = write(tmp_path, "bad5.toml", 'extends = "glue-mrpc"\n[model]\ntrust_remote_code = 1\n')
    assert (
        error_of(path) == "bad5.toml: [model] trust_remote_code: expected true or false, got 1 (an integer)"
    )


def test_enum_values_are_checked_with_a_suggestion(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[training]\neval_strategy = "epochs"\n')
    assert error_of(path) == (
        "bad.toml: [training] eval_strategy: expected one of no, steps, epoch, got \"epochs\" (a string); did you mean 'epoch'?"
    )
    assert error_of("glue-mrpc", "watchdog.on_nan=halt") == (
        '--set watchdog.on_nan=halt: [watchdog] on_nan: expected one of warn, stop, got "halt" (a string)'
    )


def test_eval_strategy_without_an_eval_split(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[dataset]\neval_split = ""\n')
    assert error_of(path) == (
        'glue-mrpc (built-in preset): [training] eval_strategy: "epoch" needs an evaluation split '
        '(eval_split = "" in bad.toml): set [dataset] eval_split or eval_fraction, or set eval_strategy = "no"'
    )


def test_best_model_needs_matching_strategies(tmp_path):
    path = write(
        tmp_path,
        "bad.toml",
        'extends = "glue-mrpc"\n[training]\nload_best_model_at_end = true\nsave_strategy = "steps"\n',
    )
    assert error_of(path) == (
        "bad.toml: [training] load_best_model_at_end: needs save_strategy to match eval_strategy "
        '(save_strategy = "steps", eval_strategy = "epoch")'
    )


def test_bf16_on_a_cpu_is_an_error_and_fp16_a_warning():
    p = cfg.resolve("glue-mrpc", ["training.bf16=true"])
    with pytest.raises(cfg.PresetError) as info:
        cfg.check_device(p, cuda_available=False, bf16_supported=False)
    assert str(info.value) == (
        "--set training.bf16=true: [training] bf16: true needs a GPU with bfloat16 (no GPU was found); "
        "remove it, or set use_cpu = true"
    )
    p = cfg.resolve("glue-mrpc", ["training.fp16=true"])
    assert cfg.check_device(p, cuda_available=False, bf16_supported=False) == [
        "--set training.fp16=true: [training] fp16 = true has no effect on a CPU: training runs in float32 "
        "(transformers does not say so)"
    ]
    assert cfg.check_device(p, cuda_available=True, bf16_supported=True) == []


def test_fp16_and_bf16_together():
    assert error_of("glue-mrpc", "training.fp16=true", "training.bf16=true") == (
        "--set training.bf16=true: [training] bf16: choose one of fp16 and bf16, not both"
    )


def test_dataset_source_must_be_exactly_one(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\n", encoding="utf-8")
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[dataset]\nfiles = "t.csv"\n')
    assert error_of(path, check_training=False) == (
        "glue-mrpc (built-in preset): [dataset]: set exactly one of hub_id (a hub dataset) or files (local files); both are set"
    )


def test_missing_files_and_unknown_format(tmp_path):
    path = write(
        tmp_path, "bad.toml", '[model]\ncheckpoint = "x"\n[dataset]\nfiles = "nope.csv"\ntext_columns = "t"\n'
    )
    assert (
        error_of(path, check_training=False)
        == f"bad.toml: [dataset] files: train: no such file: {tmp_path / 'nope.csv'}"
    )
    (tmp_path / "data.txt").write_text("x", encoding="utf-8")
    path = write(
        tmp_path,
        "bad2.toml",
        '[model]\ncheckpoint = "x"\n[dataset]\nfiles = "data.txt"\ntext_columns = "t"\n',
    )
    assert error_of(path, check_training=False) == (
        "bad2.toml: [dataset] format: cannot tell the format of data.txt; set format to one of csv, tsv, json, jsonl, parquet"
    )


def test_eval_fraction_bounds_and_conflicts():
    assert error_of("demo", "dataset.eval_fraction=1.5", check_training=False) == (
        "--set dataset.eval_fraction=1.5: [dataset] eval_fraction: expected a number between 0 and 1, got 1.5"
    )
    assert error_of("demo", "dataset.eval_fraction=0.1", check_training=False) == (
        "--set dataset.eval_fraction=0.1: [dataset] eval_fraction: set eval_split or eval_fraction, not both"
    )


def test_text_columns_shape():
    assert error_of("demo", 'dataset.text_columns=["a","b","c"]', check_training=False) == (
        '--set dataset.text_columns=["a","b","c"]: [dataset] text_columns: expected one column name or a list of two '
        '(a sentence pair), e.g. ["sentence1", "sentence2"], got a list'
    )


def test_output_dir_is_not_a_preset_key():
    assert error_of("demo", "training.output_dir=/tmp/x") == (
        "--set training.output_dir=/tmp/x: [training] output_dir: not settable in a preset: "
        "each run gets its own folder; use --output-dir on the command line"
    )


def test_bad_toml_and_missing_preset(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc\n')
    assert error_of(path).startswith("bad.toml: not valid TOML: ")
    assert error_of("glue-mrpcc") == (
        "glue-mrpcc: unknown preset; did you mean 'glue-mrpc'? (known: demo, glue-mrpc, glue-sst2, local-csv; or give a .toml path)"
    )
    assert error_of(tmp_path / "absent.toml") == f"{tmp_path / 'absent.toml'}: no such preset file"


def test_extends_cycles_and_unknown_parents(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    assert error_of(tmp_path / "a.toml") == "a.toml: extends: loops back on itself (a -> b -> a)"
    write(tmp_path, "self.toml", 'extends = "self.toml"\n')
    assert error_of(tmp_path / "self.toml") == "self.toml: extends: loops back on itself (self -> self)"
    path = write(tmp_path, "c.toml", 'extends = "no-such-preset"\n')
    assert error_of(path) == (
        "c.toml: extends: unknown preset 'no-such-preset' (known: demo, glue-mrpc, glue-sst2, local-csv; or give a .toml path)"
    )


def test_user_presets_shadow_builtins_and_are_listed(fttui_home):
    folder = fttui_home / "presets"
    folder.mkdir()
    (folder / "mine.toml").write_text('description = "my run"\nextends = "demo"\n', encoding="utf-8")
    assert "mine" in cfg.user_presets()
    assert cfg.resolve("mine").dataset == cfg.resolve("demo").dataset
    assert cfg.describe(folder / "mine.toml") == "my run"


def test_presets_command_says_which_user_presets_are_unusable(fttui_home, capsys, monkeypatch):
    from engine import cli

    monkeypatch.setenv("COLUMNS", "200")
    folder = fttui_home / "presets"
    folder.mkdir()
    (folder / "broken.toml").write_text('description = "half\n', encoding="utf-8")
    (folder / "odd.toml").write_text('description = "[/b] marked up"\nextends = "demo"\n', encoding="utf-8")
    assert cli.main(["presets"]) == 0
    out = capsys.readouterr().out
    broken = next(line for line in out.splitlines() if "broken" in line)
    assert "user" in broken and "unusable: not valid TOML" in broken
    assert "[/b] marked up" in out  # a user's text, printed as written


def test_a_user_preset_can_shadow_a_builtin_and_extend_it(fttui_home, tmp_path):
    folder = fttui_home / "presets"
    folder.mkdir()
    (folder / "demo.toml").write_text(
        'extends = "demo"\n[training]\nnum_train_epochs = 1\n', encoding="utf-8"
    )
    assert cfg.resolve("demo").training["num_train_epochs"] == 1
    assert cfg.resolve("demo").dataset == cfg.resolve(cfg.builtin_presets()["demo"]).dataset
    child = write(tmp_path, "child.toml", 'extends = "demo"\n')
    assert cfg.resolve(child).provenance["training.num_train_epochs"].endswith("demo.toml")


def test_preset_files_that_are_not_utf8_or_start_with_a_byte_order_mark(tmp_path):
    (tmp_path / "latin1.toml").write_bytes('description = "café"\n'.encode("latin-1"))
    assert error_of(tmp_path / "latin1.toml") == (
        "latin1.toml: not UTF-8 text (byte 0xe9 at offset 18); save the file as UTF-8"
    )
    (tmp_path / "bom.toml").write_bytes(b'\xef\xbb\xbfextends = "demo"\n')
    assert cfg.resolve(tmp_path / "bom.toml").model["checkpoint"] == "demo:tiny-bert"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.learning_rate=nan", "[training] learning_rate: expected a finite number, got nan"),
        ("training.num_train_epochs=inf", "[training] num_train_epochs: expected a finite number, got inf"),
        (
            "training.num_train_epochs=1e308",
            "[training] num_train_epochs: expected at most 100,000 epochs, got 1e+308; "
            "for a run bounded by steps, set max_steps",
        ),
        ("training.seed=-1", "[training] seed: expected 0 to 4294967295 (2**32 - 1), got -1"),
        (
            "training.data_seed=4294967296",
            "[training] data_seed: expected 0 to 4294967295 (2**32 - 1), got 4294967296",
        ),
        (
            "training.per_device_train_batch_size=99999999999999999999999",
            "[training] per_device_train_batch_size: expected a smaller integer, got 99999999999999999999999",
        ),
        ("dataset.split_seed=-1", "[dataset] split_seed: expected 0 to 4294967295 (2**32 - 1), got -1"),
        (
            "watchdog.grad_norm_limit=nan",
            "[watchdog] grad_norm_limit: expected a finite number, got nan (a number)",
        ),
        (
            'training.save_strategy="best"',
            '[training] save_strategy: "best" needs metric_for_best_model, the metric that decides '
            '(e.g. "accuracy" or "loss")',
        ),
        (
            "training.report_to=wandb",
            "[training] report_to: 'wandb' needs its package installed (pip install wandb), "
            'or set report_to = "none"',
        ),
        (
            "training.report_to=wandbb",
            "[training] report_to: unknown tracker 'wandbb'; did you mean 'wandb'?",
        ),
        ("training.no_cuda=true", "[training] no_cuda: removed in transformers 5; use use_cpu = true"),
        (
            "training.evaluation_strategy=epoch",
            "[training] evaluation_strategy: removed in transformers 5; use eval_strategy",
        ),
        (
            "model.checkpoint=",
            "[model] checkpoint: empty; expected a hub id (e.g. bert-base-uncased) or a local folder",
        ),
    ],
)
def test_values_that_would_fail_mid_run_are_caught_first(override, message):
    assert error_of("demo", override) == f"--set {override}: {message}"


def test_the_label_column_cannot_also_be_a_text_column():
    assert error_of("demo", 'dataset.text_columns=["text", "label"]') == (
        '--set dataset.text_columns=["text", "label"]: [dataset] text_columns: \'label\' is also the label '
        "column; the model would read the answer in its input"
    )


def test_save_best_needs_evaluation(tmp_path):
    path = write(
        tmp_path,
        "p.toml",
        'extends = "demo"\n[dataset]\neval_split = ""\n[training]\nsave_strategy = "best"\n',
    )
    assert error_of(path, "training.eval_strategy=no") == (
        'p.toml: [training] save_strategy: "best" needs evaluation: set eval_strategy to epoch or steps'
    )


def test_training_value_check_used_by_the_form():
    assert cfg.check_training_value("learning_rate", 1e-4) is None
    assert cfg.check_training_value("learning_rate", "fast") == 'expected a number, got "fast" (a string)'
    assert cfg.check_training_value("lr_scheduler_type", "cosine") is None
    assert cfg.check_training_value("lr_scheduler_type", "cosin").endswith("did you mean 'cosine'?")
    assert cfg.check_training_value("report_to", ["none"]) is None


# -- the command line: exit code 2, one line, no traceback ---------------------------------------------


def test_cli_bad_input_is_one_line_with_exit_code_2(tmp_path):
    path = write(tmp_path, "bad.toml", 'extends = "glue-mrpc"\n[training]\nlearning_rat = 3e-5\n')
    proc = run_cli("run", str(path), "--check", cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "fttui: error: bad.toml: [training] learning_rat: unknown key; did you mean 'learning_rate'?"
    )
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--nproc-per-node", "0"], "--nproc-per-node 0: expected a whole number of processes, 1 or more"),
        (
            ["--nnodes", "abc"],
            "--nnodes abc: expected a number of nodes, 1 or more, or MIN:MAX (e.g. 2 or 1:4)",
        ),
        (["--nnodes", "3:2"], "--nnodes 3:2: MIN is larger than MAX"),
        (["--nnodes", "2"], "--nnodes 2: several nodes need --rdzv-endpoint HOST:PORT (node 0's address)"),
        (
            ["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "node0:29400"],
            "--node-rank 2: expected 0 to 1 for --nnodes 2",
        ),
        (
            ["--nnodes", "2", "--rdzv-endpoint", "node0"],
            "--rdzv-endpoint node0: expected HOST:PORT, e.g. node0.cluster:29400",
        ),
        (["--master-port", "70000"], "--master-port 70000: expected a port number, 1 to 65535"),
    ],
)
def test_cli_launch_options_are_checked_before_torchrun(options, message, tmp_path):
    proc = run_cli("run", "demo", "--check", *options)
    assert (proc.returncode, proc.stderr.strip()) == (2, f"fttui: error: {message}")
    assert not list(tmp_path.iterdir())  # nothing was started or written


def test_cli_output_dir_that_is_a_file_cannot_be_made_or_holds_a_run(tmp_path):
    afile = tmp_path / "afile.txt"
    afile.write_text("keep me", encoding="utf-8")
    proc = run_cli("run", "demo", "--output-dir", str(afile))
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"fttui: error: --output-dir {afile}: is a file, expected a folder for the run",
    )
    assert afile.read_text(encoding="utf-8") == "keep me"
    blocked = afile / "run"
    proc = run_cli("run", "demo", "--output-dir", str(blocked), "--set", "training.bf16=true")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"fttui: error: --output-dir {blocked}: cannot create the folder (")

    finished = tmp_path / "finished"
    finished.mkdir()
    (finished / "events.jsonl").write_text("", encoding="utf-8")
    (finished / "results.toml").write_text("kept", encoding="utf-8")
    proc = run_cli("run", "demo", "--output-dir", str(finished), "--set", "training.bf16=true")
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"fttui: error: --output-dir {finished}: already holds a run (events.jsonl); "
        f"choose a new folder, or continue that run with: fttui resume {finished}",
    )
    assert (finished / "events.jsonl").read_text(encoding="utf-8") == ""  # no rejection appended
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "results.toml").write_text("exported", encoding="utf-8")
    proc = run_cli("run", "demo", "--check", "--output-dir", str(exports))
    assert (proc.returncode, proc.stderr.strip()) == (
        2,
        f"fttui: error: --output-dir {exports}: already holds a results.toml this run would replace; "
        "choose a new folder",
    )
    assert (finished / "results.toml").read_text(encoding="utf-8") == "kept"


def test_cli_check_accepts_a_good_preset_and_warns_about_fp16_on_cpu(demo_home):
    proc = run_cli("run", "demo", "--check", "--set", "training.fp16=true")
    assert proc.returncode == 0, proc.stderr
    assert "demo (built-in preset): ok" in proc.stdout
    # --check loads the data and the tokenizer as a run would, and says what it found.
    assert (
        "6,000 train rows, 600 eval rows (split 'validation'), 2 classes; tokenizer of demo:tiny-bert loads"
        in (proc.stdout)
    )
    assert "fp16 = true has no effect on a CPU" in proc.stderr
    assert not (demo_home / "runs").exists()  # nothing trained, no run folder


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "dataset.text_columns=nope",
            "[dataset] text_columns: column 'nope' not found in split 'train'; its columns are: text, label",
        ),
        ("model.checkpoint=/nonexistent/model", "[model] checkpoint: no such folder: /nonexistent/model"),
    ],
)
def test_cli_check_finds_what_only_the_data_or_checkpoint_can_refute(demo_home, override, message):
    proc = run_cli("run", "demo", "--check", "--set", override)
    assert (proc.returncode, proc.stderr.strip()) == (2, f"fttui: error: --set {override}: {message}")
    assert "ok" not in proc.stdout


def test_a_deprecated_training_field_works_with_a_warning_naming_its_new_name():
    fields = cfg.training_fields()
    deprecated = [n for n, f in fields.items() if f.help.lower().startswith("deprecated")]
    if "gradient_checkpointing" not in deprecated:
        pytest.skip("this transformers release has not renamed gradient_checkpointing")
    p = cfg.resolve("demo", ["training.gradient_checkpointing=true"])
    assert p.training["gradient_checkpointing"] is True
    assert p.warnings == [
        "--set training.gradient_checkpointing=true: [training] gradient_checkpointing: "
        + fields["gradient_checkpointing"].help
    ]
    assert "activation_checkpointing" in p.warnings[0]
    cfg.validate_training(p)  # validating again does not repeat it
    assert len(p.warnings) == 1
    assert cfg.resolve("demo", ["training.activation_checkpointing=true"]).warnings == []


def test_metric_scripts_from_elsewhere_need_trust():
    assert error_of("demo", 'metrics.load=["someone/fancy-metric"]') == (
        '--set metrics.load=["someone/fancy-metric"]: [metrics] load: "someone/fancy-metric" is a metric script from '
        "outside evaluate's own set; set [metrics] trust_remote_code = true if you trust its code"
    )
    p = cfg.resolve("demo", ['metrics.load=["someone/fancy-metric"]', "metrics.trust_remote_code=true"])
    assert p.metrics["trust_remote_code"] is True
    assert cfg.resolve("demo").metrics["trust_remote_code"] is False  # off unless a preset says so


def test_empty_files_clear_an_inherited_file_source():
    """How the app switches the demo (local files) to a hub dataset: edits can only blank keys."""
    p = cfg.resolve(
        "demo",
        edit_overrides=['dataset.files=""', 'dataset.hub_id="glue"', 'dataset.config="sst2"'],
        check_training=False,
    )
    assert p.dataset["files"] == "" and p.dataset["hub_id"] == "glue"


def test_a_rejected_preset_still_leaves_a_log_in_the_given_run_folder(tmp_path):
    from engine.history import load_history

    proc = run_cli("run", "demo", "--set", "training.bf16=true", "--output-dir", str(tmp_path / "run"))
    assert proc.returncode == 2
    history = load_history(tmp_path / "run")
    assert history.status() == "failed"
    assert history.finished.error_type == "bad input"
    assert history.finished.error.startswith("--set training.bf16=true: [training] bf16: true needs a GPU")


def test_a_saved_effective_preset_keeps_its_name_but_children_do_not_inherit_it(tmp_path):
    from engine.results import atomic_write_toml

    path = tmp_path / "preset.toml"
    atomic_write_toml(path, cfg.resolve("glue-sst2").to_dict())
    assert cfg.resolve(path).name == "glue-sst2"  # a run folder's preset.toml, a results.toml
    child = write(tmp_path, "child.toml", f'extends = "{path}"\n')
    assert cfg.resolve(child).name == "child"
