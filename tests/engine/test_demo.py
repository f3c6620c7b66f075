"""The offline demo assets: built locally, complete or absent, loadable like any checkpoint."""

from __future__ import annotations

import collections
import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from engine import demo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo.ensure_assets(tmp_path_factory.mktemp("home") / "demo")


def read_rows(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        assert next(reader) == ["text", "label"]
        return [(text, label) for text, label in reader]


def fake_build(folder: Path) -> None:
    (folder / "payload.txt").write_text("new", encoding="utf-8")
    (folder / demo.MARKER).write_text(f"{demo.DEMO_VERSION}\n", encoding="utf-8")


def test_layout(built: Path) -> None:
    model = built / demo.MODEL_DIR
    assert (model / "config.json").is_file()
    assert (model / "model.safetensors").is_file()
    assert (model / "tokenizer.json").is_file()
    assert (built / "reviews" / "train.csv").is_file()
    assert (built / "reviews" / "validation.csv").is_file()
    assert (built / demo.MARKER).read_text(encoding="utf-8").strip() == str(demo.DEMO_VERSION)
    # No staging folder is left next to the result.
    assert [p.name for p in built.parent.iterdir()] == [built.name]


def test_second_call_does_not_rebuild(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamps = {p: p.stat().st_mtime_ns for p in built.rglob("*")}

    def must_not_build(folder: Path) -> None:
        raise AssertionError("rebuilt assets that were already current")

    monkeypatch.setattr(demo, "_build", must_not_build)
    assert demo.ensure_assets(built) == built
    assert {p: p.stat().st_mtime_ns for p in built.rglob("*")} == stamps


def test_default_root_is_under_fttui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTTUI_HOME", str(tmp_path))
    monkeypatch.setattr(demo, "_build", fake_build)
    assert demo.ensure_assets() == tmp_path / "demo"
    assert (tmp_path / "demo" / "payload.txt").is_file()


@pytest.mark.parametrize("marker", ["0\n", None], ids=["older-version", "no-marker"])
def test_stale_or_half_written_folder_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, marker: str | None
) -> None:
    root = tmp_path / "demo"
    (root / "reviews").mkdir(parents=True)
    (root / "reviews" / "train.csv").write_text("text,label\n", encoding="utf-8")
    if marker is not None:
        (root / demo.MARKER).write_text(marker, encoding="utf-8")
    monkeypatch.setattr(demo, "_build", fake_build)

    assert demo.ensure_assets(root) == root
    assert sorted(p.name for p in root.iterdir()) == sorted(["payload.txt", demo.MARKER])
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_failed_build_leaves_nothing_that_looks_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed_halfway(folder: Path) -> None:
        (folder / "reviews").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_build", killed_halfway)
    with pytest.raises(KeyboardInterrupt):
        demo.ensure_assets(tmp_path / "demo")
    assert list(tmp_path.iterdir()) == []


def test_a_build_finished_elsewhere_first_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "demo"

    def racing_build(folder: Path) -> None:
        # Another process installs its build while this one is still working.
        root.mkdir()
        (root / "payload.txt").write_text("theirs", encoding="utf-8")
        (root / demo.MARKER).write_text(f"{demo.DEMO_VERSION}\n", encoding="utf-8")
        fake_build(folder)

    monkeypatch.setattr(demo, "_build", racing_build)
    assert demo.ensure_assets(root) == root
    assert (root / "payload.txt").read_text(encoding="utf-8") == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_reviews_are_balanced_and_need_more_than_keywords(built: Path) -> None:
    train = read_rows(built / "reviews" / "train.csv")
    validation = read_rows(built / "reviews" / "validation.csv")
    assert len(train) == demo.TRAIN_ROWS
    assert len(validation) == demo.VALIDATION_ROWS
    for rows in (train, validation):
        counts = collections.Counter(label for _, label in rows)
        assert counts == {"negative": len(rows) // 2, "positive": len(rows) // 2}

    texts = {
        label: [text.lower() for text, lab in train if lab == label] for label in ("negative", "positive")
    }
    # Negation flips a word's usual sense, and a contrast puts both senses in one review.
    assert any(" not bad" in text for text in texts["positive"])
    assert any(" not good" in text for text in texts["negative"])
    assert any(" but " in text for text in texts["positive"])
    assert any(" but " in text for text in texts["negative"])
    assert any("," in text for text in texts["positive"])  # quoted fields survived the round trip

    assert train[: len(validation)] != validation
    shared = {text for text, _ in train} & {text for text, _ in validation}
    assert len(shared) < len(validation) // 10


def test_a_small_balanced_share_of_labels_is_flipped(monkeypatch: pytest.MonkeyPatch) -> None:
    noisy = demo.generate_reviews(demo.VALIDATION_ROWS, random.Random(demo.VALIDATION_SEED))
    monkeypatch.setattr(demo, "MISLABELLED_SHARE", 0.0)
    clean = demo.generate_reviews(demo.VALIDATION_ROWS, random.Random(demo.VALIDATION_SEED))
    # The same reviews; only labels differ, as many in each direction.
    assert [text for text, _ in noisy] == [text for text, _ in clean]
    flipped = collections.Counter(was for (_, was), (_, now) in zip(clean, noisy, strict=True) if was != now)
    per_class = round(demo.VALIDATION_ROWS // 2 * 0.02)
    assert flipped == {"positive": per_class, "negative": per_class}


def test_reviews_are_reproducible(built: Path) -> None:
    expected = demo.generate_reviews(demo.VALIDATION_ROWS, random.Random(demo.VALIDATION_SEED))
    assert read_rows(built / "reviews" / "validation.csv") == expected
    assert demo.generate_reviews(50, random.Random(1)) == demo.generate_reviews(50, random.Random(1))


def test_loads_like_a_checkpoint_with_a_new_classifier_head(built: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = demo.resolve_ref("demo:tiny-bert", built)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model, info = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=2, output_loading_info=True
    )
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias"}
    assert not info["unexpected_keys"]
    assert not info["mismatched_keys"]
    assert model.config.vocab_size == len(tokenizer)
    assert tokenizer.model_max_length <= model.config.max_position_embeddings

    single = tokenizer("The plot was not bad.")
    tokens = tokenizer.convert_ids_to_tokens(single["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert "[UNK]" not in tokens
    assert tokens[1:4] == ["the", "plot", "was"]

    pair = tokenizer("The plot was dull.", "The acting was superb.")
    assert pair["token_type_ids"][0] == 0
    assert 1 in pair["token_type_ids"]
    assert tokenizer.convert_ids_to_tokens(pair["input_ids"]).count("[SEP]") == 2

    batch = tokenizer(["Good.", "The battery was far from good, sadly."], padding=True, return_tensors="pt")
    logits = model(**batch).logits
    assert tuple(logits.shape) == (2, 2)


def test_build_is_deterministic_and_leaves_global_state_alone(built: Path, tmp_path: Path) -> None:
    import torch
    import transformers

    verbosity = transformers.logging.get_verbosity()
    bars = transformers.logging.is_progress_bar_enabled()
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)

    again = demo.ensure_assets(tmp_path / "demo")

    assert torch.equal(torch.rand(3), expected_draw)
    assert transformers.logging.get_verbosity() == verbosity
    assert transformers.logging.is_progress_bar_enabled() == bars
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        first = (built / demo.MODEL_DIR / name).read_bytes()
        assert (again / demo.MODEL_DIR / name).read_bytes() == first, name


def test_refs() -> None:
    root = Path("/data/demo")
    assert demo.is_demo_ref("demo:tiny-bert")
    assert not demo.is_demo_ref("bert-base-uncased")
    assert not demo.is_demo_ref(None)
    assert demo.resolve_ref("demo:tiny-bert", root) == str(root / "tiny-bert")
    assert demo.resolve_ref("demo:reviews/train.csv", root) == str(root / "reviews" / "train.csv")
    with pytest.raises(ValueError):
        demo.resolve_ref("tiny-bert", root)


def test_import_is_light() -> None:
    code = (
        "import sys, engine.demo; print(sorted({'torch', 'transformers', 'tokenizers'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
