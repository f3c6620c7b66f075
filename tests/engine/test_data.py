"""Loading local files, settling labels, carving eval splits and tokenizing, with the errors users meet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from engine import data


@pytest.fixture(scope="module")
def tokenizer(demo_root):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_root / "tiny-bert")


def write_csv(path: Path, header: list[str], rows: list[list], delimiter: str = ",") -> str:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def spec(**kw):
    base = {
        "text_columns": ["text"],
        "label_column": "label",
        "train_split": "train",
        "split_seed": 42,
        "task": "auto",
    }
    base.update(kw)
    return base


def test_string_labels_become_sorted_classes_and_ids(tmp_path, tokenizer):
    rows = [[f"good movie {i}", "pos"] if i % 2 else [f"bad movie {i}", "neg"] for i in range(20)]
    ds = spec(files={"train": write_csv(tmp_path / "t.csv", ["text", "label"], rows)}, eval_fraction=0.25)
    prepared = data.prepare(ds, "p.toml", tokenizer)
    assert prepared.labels.names == ["neg", "pos"]
    assert prepared.labels.label2id == {"neg": 0, "pos": 1}
    assert set(prepared.train["label"]) == {0, 1}
    assert len(prepared.eval) == 5 and len(prepared.train) == 15
    assert prepared.eval_source == "stratified 25% of 'train' (seed 42)"
    # stratified: both classes in the 5-example eval split
    assert set(prepared.eval["label"]) == {0, 1}
    assert set(prepared.train.column_names) == {"label", "input_ids", "token_type_ids", "attention_mask"}


def test_explicit_label_order_and_unknown_label(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", "low"], ["b", "high"], ["c", "mid"]] * 3)
    prepared = data.prepare(spec(files=path, labels=["low", "mid", "high"]), "p.toml", tokenizer)
    assert prepared.labels.names == ["low", "mid", "high"]
    assert prepared.train["label"][:3] == [0, 2, 1]
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files=path, labels=["low", "high"]), "p.toml", tokenizer)
    assert (
        str(info.value)
        == "p.toml: [dataset] labels: label 'mid' appears in the data but not in labels = ['low', 'high']"
    )


def test_sparse_int_labels_keep_their_values_as_names(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "stars"], [["a", 1], ["b", 3], ["c", 5], ["d", 10]])
    prepared = data.prepare(spec(files=path, label_column="stars"), "p.toml", tokenizer)
    # numeric order, not string order ("10" < "3" as strings)
    assert prepared.labels.names == ["1", "3", "5", "10"]
    assert prepared.train["label"] == [0, 1, 2, 3]


def test_float_labels_mean_regression(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "score"], [["a", 0.5], ["b", 3.2], ["c", 4.8]])
    prepared = data.prepare(spec(files=path, label_column="score"), "p.toml", tokenizer)
    assert prepared.labels.task == "regression" and prepared.labels.num_labels == 1
    assert prepared.train["label"] == pytest.approx([0.5, 3.2, 4.8])


def test_negative_labels_are_rejected(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", 0], ["b", -1], ["c", 1]])
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files=path), "p.toml", tokenizer)
    assert str(info.value) == (
        "p.toml: [dataset] label_column: label -1 in 'label' is negative (unlabelled test rows?); labels must be 0 or more"
    )


def test_a_single_class_is_rejected(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", "x"], ["b", "x"]])
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files=path), "p.toml", tokenizer)
    assert (
        str(info.value) == "p.toml: [dataset] label_column: 'label' has a single class (x); need at least two"
    )


def test_missing_column_lists_the_real_ones(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["review", "label"], [["a", 0], ["b", 1]])
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files=path), "p.toml", tokenizer)
    assert (
        str(info.value)
        == "p.toml: [dataset] text_columns: column 'text' not found in split 'train'; its columns are: review, label"
    )


def test_missing_split(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", 0], ["b", 1]])
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files={"train": path}, eval_split="dev"), "p.toml", tokenizer)
    assert str(info.value) == "p.toml: [dataset] eval_split: no split 'dev'; the dataset has: train"


def test_an_eval_share_that_leaves_nothing_to_train_on(tmp_path, tokenizer):
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [["a", 0], ["b", 1], ["c", 0], ["d", 1]])
    with pytest.raises(data.DataError) as info:
        data.prepare(spec(files=path, eval_fraction=0.9), "p.toml", tokenizer)
    assert str(info.value) == (
        "p.toml: [dataset] eval_fraction: 0.9 of 4 rows leaves no rows to train on; choose a smaller share"
    )
    small = data.prepare(spec(files=path, eval_fraction=0.1), "p.toml", tokenizer)
    assert (len(small.train), len(small.eval)) == (3, 1)  # datasets holds out ceil(0.4) = 1 row


GOOD_CSV = "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(10))
GOOD_JSONL = "".join(json.dumps({"text": f"t{i}", "label": i % 2}) + "\n" for i in range(49))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("train.csv", "", "train.csv: no rows"),
        ("train.csv", "text,label\n", "train.csv: no rows"),
        ("train.jsonl", "", "train.jsonl: no rows"),
        (
            "train.csv",
            GOOD_CSV + "a,b,c,d\n",
            "train.csv: cannot read as csv: Error tokenizing data. C error: Expected 2 fields in line 12, saw 4",
        ),
        (
            "train.csv",
            GOOD_CSV.replace("t1,", "café 1,").encode("latin-1"),
            "train.csv: cannot read as csv: 'utf-8' codec can't decode byte 0xe9 in position 3: "
            "invalid continuation byte (save the file as UTF-8)",
        ),
        (
            "train.jsonl",
            GOOD_JSONL + "{bad json\n",
            "train.jsonl: cannot read as jsonl: JSON parse error: Missing a name for object member. in row 49",
        ),
    ],
    ids=["empty-csv", "header-only-csv", "empty-jsonl", "ragged-csv", "latin1-csv", "bad-jsonl-line"],
)
def test_unreadable_file_names_the_file_and_the_real_cause(tmp_path, capfd, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(data.DataError) as info:
        data.load_raw(spec(files=str(path)), "p.toml")
    assert str(info.value) == f"p.toml: [dataset] files: {expected}"
    # datasets' own "Failed to read file ..." line is the same news: it must not stray onto the terminal.
    out, err = capfd.readouterr()
    assert "Failed to" not in out + err


def test_unreadable_file_among_several_is_the_one_named(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    good, bad = tmp_path / "a" / "train.csv", tmp_path / "b" / "train.csv"
    good.write_text(GOOD_CSV, encoding="utf-8")
    bad.write_text(GOOD_CSV + "a,b,c\n", encoding="utf-8")
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(data.DataError) as info:
        data.load_raw(spec(files={"train": [str(good), str(bad)]}), "p.toml")
    assert str(info.value).startswith(f"p.toml: [dataset] files: {bad}: cannot read as csv: ")  # names clash
    with pytest.raises(data.DataError) as info:
        data.load_raw(spec(files={"train": str(good), "dev": str(dev)}), "p.toml")
    assert str(info.value) == "p.toml: [dataset] files: dev.csv: no rows"


def test_glue_tsv_quotes_bom_and_column_mapping(tmp_path, tokenizer):
    # GLUE's MRPC: a byte-order mark before the first header, bare quotes inside sentences.
    lines = [
        "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
        '1\t1\t2\tHe called him " the witness " .\tHe said " the witness " twice .',
        "0\t3\t4\tShares rose 5 % .\tShares fell .",
    ]
    path = tmp_path / "train.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = spec(
        files={"train": str(path), "validation": str(path)},
        eval_split="validation",
        text_columns=["#1 String", "#2 String"],
        label_column="Quality",
    )
    raw = data.load_raw(ds, "p.toml")
    assert raw["train"].column_names[0] == "Quality"
    assert raw["train"]["#1 String"][0] == 'He called him " the witness " .'  # quotes kept
    prepared = data.prepare_loaded(raw, ds, "p.toml", tokenizer)
    assert prepared.labels.names == ["0", "1"]
    assert prepared.eval_texts[0] == 'He called him " the witness " . ‖ He said " the witness " twice .'
    # a pair: the second sentence gets token type 1
    assert 1 in prepared.train["token_type_ids"][0]


def test_json_lines_and_parquet(tmp_path, tokenizer):
    rows = [{"text": f"t{i}", "label": i % 2} for i in range(6)]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    prepared = data.prepare(spec(files=str(jsonl)), "p.toml", tokenizer)
    assert len(prepared.train) == 6 and prepared.labels.names == ["0", "1"]
    import pandas as pd

    pq = tmp_path / "d.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    prepared = data.prepare(spec(files=str(pq)), "p.toml", tokenizer)
    assert len(prepared.train) == 6


def test_truncation_and_empty_texts(tmp_path, tokenizer):
    long = " ".join(["wonderful"] * 100)
    path = write_csv(tmp_path / "t.csv", ["text", "label"], [[long, 1], ["", 0], ["short", 1]])
    prepared = data.prepare(spec(files=path, max_length=16), "p.toml", tokenizer)
    assert max(len(ids) for ids in prepared.train["input_ids"]) == 16
    assert prepared.truncated_train == 1
    assert prepared.warnings == ["1 training examples have an empty text field; kept as empty strings"]


def test_token_length_stats_count_what_truncation_cuts(tokenizer):
    texts = [["a b c", "wonderful " * 50, "fine"]]
    stats = data.token_length_stats(texts, tokenizer, max_length=10)
    assert stats["examples"] == 3 and stats["truncated"] == 1 and stats["max"] > 10 and stats["limit"] == 10
