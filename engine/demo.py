"""The offline demo: a tiny BERT and a review dataset, built locally so `demo` runs with no network."""

from __future__ import annotations

import collections
import csv
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from engine import paths

DEMO_PREFIX = "demo:"
# Bump whenever the generator, tokenizer or model changes: an older folder is then rebuilt.
DEMO_VERSION = 4
MARKER = "fttui-demo-version.txt"
MODEL_DIR = "tiny-bert"
REVIEWS_DIR = "reviews"

TRAIN_ROWS = 6000
VALIDATION_ROWS = 600
# Separate streams so validation is drawn from the same distribution without copying train.
TRAIN_SEED = 2024
VALIDATION_SEED = 7013
# Real labels are never clean (SST-2 and MRPC have annotator disagreements too): this share of
# each class is given the other label, so the demo's confusion matrix and its "most confidently
# wrong" list show what they are for, finding mislabelled rows, instead of a blank diagonal.
MISLABELLED_SHARE = 0.02
MODEL_SEED = 42
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Far above what the demo corpus can fill, so the trainer merges every word whole.
TRAINER_VOCAB_LIMIT = 5000
MAX_POSITIONS = 128
TINY_BERT = {
    "hidden_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 256,
    # Measured: without dropout this model gets past the keyword-counting stage (~0.75
    # accuracy) about an epoch sooner, and generated data this regular does not overfit.
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}
# A staging folder this old belongs to a build that was killed, not one still running.
ABANDONED_AFTER_S = 3600

NEGATIVE = "negative"
POSITIVE = "positive"

MOVIE_ASPECTS = [
    "plot", "acting", "soundtrack", "dialogue", "ending", "pacing", "script", "cinematography",
    "lead performance", "humour", "villain", "score", "direction", "final act", "opening scene",
]  # fmt: skip
PRODUCT_ASPECTS = [
    "battery", "screen", "camera", "keyboard", "speaker", "charger", "build quality", "price",
    "customer service", "packaging", "manual", "app", "strap", "lid", "motor", "delivery",
]  # fmt: skip
MOVIE_THINGS = ["film", "movie", "sequel", "documentary", "thriller", "comedy", "drama", "cartoon"]
PRODUCT_THINGS = ["blender", "kettle", "phone", "laptop", "lamp", "backpack", "toaster", "watch", "headset"]
TITLES = [
    "Harbor Lights", "The Long Winter", "Paper Moons", "Night Train", "The Glass Garden", "Red Canyon",
    "Silent Orchard", "The Ninth Door", "Blue Summer", "City of Kites",
]  # fmt: skip
BRANDS = ["Zento", "Alvero", "Kimba", "Northway", "Lumo", "Brisk", "Orvik", "Tandem"]
NAMES = [
    "Priya", "Tom", "Maria", "Kenji", "Aisha", "Lucas", "Olivia", "Omar", "Chen", "Sofia", "Daniel",
    "Fatima", "Jonas", "Grace", "Mateo", "Hannah",
]  # fmt: skip
DAYS = ["Monday", "Tuesday", "Wednesday", "Friday", "Saturday", "Sunday"]
POSITIVE_WORDS = [
    "good", "great", "superb", "excellent", "wonderful", "brilliant", "delightful", "charming",
    "impressive", "lovely", "fantastic", "solid", "enjoyable", "outstanding", "pleasant", "clever",
]  # fmt: skip
NEGATIVE_WORDS = [
    "bad", "awful", "terrible", "dull", "boring", "weak", "disappointing", "clumsy", "poor",
    "mediocre", "sloppy", "tedious", "dreadful", "annoying", "forgettable", "lazy",
]  # fmt: skip
INTENSIFIERS = ["very", "really", "truly", "incredibly", "quite", "extremely", "so", "rather", "pretty"]
NEGATIONS = ["not", "never", "hardly", "not at all", "not really", "far from"]
# Only the ones that read naturally after "not": "not very good" is negative.
SOFTENERS = ["very", "really", "that", "particularly", "especially", "terribly"]
# (past tense, form after "did not"): "I did not hate it" leans positive.
LIKES = [("loved", "love"), ("liked", "like"), ("enjoyed", "enjoy"), ("admired", "admire")]
DISLIKES = [("hated", "hate"), ("disliked", "dislike"), ("could not stand", "mind"), ("regretted", "regret")]
VERDICTS = {
    POSITIVE: [
        "I would recommend it", "worth every penny", "I would happily buy it again",
        "a real pleasure", "I will watch it again", "five stars from me", "money well spent",
    ],
    NEGATIVE: [
        "I would not recommend it", "a waste of money", "I want my money back", "a real letdown",
        "I will not watch it again", "one star from me", "save your time",
    ],
}  # fmt: skip
CONTRASTS = ["{a} but {b}", "{a}, but {b}", "although {a}, {b}", "{a}; however, {b}", "{a}, yet {b}"]
# "even though" puts the deciding clause first, so "the last clause wins" is not a shortcut either.
CONCESSIONS = ["{b} even though {a}", "{b}, even if {a}", "{b} despite the fact that {a}"]
MOVIE_FILLERS = [
    "I watched it with {name} last {day}.",
    "{name} recommended it to me.",
    "We saw it at the cinema on {day}.",
    "It runs for about two hours.",
]
PRODUCT_FILLERS = [
    "I bought it for {name} last {day}.",
    "It arrived on {day}.",
    "My friend {name} has the same one.",
    "I have used it every day since {day}.",
]
SHARED_FILLERS = ["{name} says the older version was similar.", "This is my second review this week."]


def is_demo_ref(value: object) -> bool:
    return isinstance(value, str) and value.startswith(DEMO_PREFIX)


def resolve_ref(value: str, root: Path) -> str:
    """``"demo:tiny-bert"`` -> ``str(root / "tiny-bert")``."""
    if not is_demo_ref(value):
        raise ValueError(f"not a demo reference (expected {DEMO_PREFIX}...): {value!r}")
    return str(Path(root) / value[len(DEMO_PREFIX) :])


def ensure_assets(root: Path | None = None) -> Path:
    """Build the demo folder if it is missing or from an older version, and return it."""
    root = Path(root) if root is not None else paths.demo_dir()
    if _is_current(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(root)
    # Everything is written into a private sibling and renamed into place at the end, so a
    # folder with the marker in it is always complete, whoever built it.
    staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(root), dir=root.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the installed folder should not be
    try:
        _build(staging)
        _install(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _is_current(root: Path) -> bool:
    try:
        return (root / MARKER).read_text(encoding="utf-8").strip() == str(DEMO_VERSION)
    except OSError:
        return False


def _staging_prefix(root: Path) -> str:
    return f".{root.name}.building-"


def _remove_abandoned_builds(root: Path) -> None:
    cutoff = time.time() - ABANDONED_AFTER_S
    for leftover in root.parent.glob(f"{_staging_prefix(root)}*"):
        try:
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _install(staging: Path, root: Path) -> None:
    for _ in range(5):
        try:
            os.replace(staging, root)
            return
        except OSError:
            # Either another process installed its (identical) build first, or `root`
            # is an older version or a folder left by something else: move it aside.
            if _is_current(root):
                return
            aside = Path(tempfile.mkdtemp(prefix=f".{root.name}.stale-", dir=root.parent))
            try:
                os.replace(root, aside / root.name)
            except FileNotFoundError:
                pass
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(f"could not put the demo assets in place at {root}")


def _build(folder: Path) -> None:
    train = generate_reviews(TRAIN_ROWS, random.Random(TRAIN_SEED))
    validation = generate_reviews(VALIDATION_ROWS, random.Random(VALIDATION_SEED))
    reviews = folder / REVIEWS_DIR
    reviews.mkdir(parents=True)
    _write_csv(reviews / "train.csv", train)
    _write_csv(reviews / "validation.csv", validation)
    _build_model(folder / MODEL_DIR, [text for text, _ in train])
    (folder / MARKER).write_text(f"{DEMO_VERSION}\n", encoding="utf-8")


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def generate_reviews(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` reviews as ``(text, label)``, half of each label, in shuffled order.

    ``MISLABELLED_SHARE`` of each label's reviews carry the other label; as many in each
    direction, so the classes stay balanced.
    """
    labels = [POSITIVE, NEGATIVE] * (count // 2) + [POSITIVE] * (count % 2)
    rng.shuffle(labels)
    reviews = [(_review(label, rng), label) for label in labels]
    flips = round(count // 2 * MISLABELLED_SHARE)
    chosen = [
        i
        for label in (POSITIVE, NEGATIVE)
        for i in rng.sample([i for i, written_as in enumerate(labels) if written_as == label], flips)
    ]
    for i in chosen:
        reviews[i] = (reviews[i][0], _opposite(labels[i]))
    return reviews


def _opposite(label: str) -> str:
    return NEGATIVE if label == POSITIVE else POSITIVE


def _review(label: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        aspects, fillers = MOVIE_ASPECTS, MOVIE_FILLERS + SHARED_FILLERS
        thing = rng.choice([f"the {rng.choice(MOVIE_THINGS)}", rng.choice(TITLES)])
    else:
        aspects, fillers = PRODUCT_ASPECTS, PRODUCT_FILLERS + SHARED_FILLERS
        brand = rng.choice(BRANDS) + " " if rng.random() < 0.6 else ""
        thing = f"the {brand}{rng.choice(PRODUCT_THINGS)}"
    # Two different subjects, so a contrast never praises and pans the same thing.
    first, second = (f"the {aspect}" for aspect in rng.sample(aspects, 2))
    if rng.random() < 0.2:
        first = thing
    elif rng.random() < 0.2:
        second = thing

    shape = rng.random()
    if shape < 0.3:
        core = _clause(label, first, rng)
        if rng.random() < 0.5:
            core = f"{core} and {_clause(label, second, rng)}"
    elif shape < 0.55:
        core = rng.choice(CONTRASTS).format(
            a=_clause(_opposite(label), first, rng), b=_clause(label, second, rng)
        )
    elif shape < 0.65:
        core = rng.choice(CONCESSIONS).format(
            a=_clause(_opposite(label), first, rng), b=_clause(label, second, rng)
        )
    else:
        core = _clause(label, first, rng, negated=True)

    sentences = [_capitalise(core) + "."]
    if rng.random() < 0.4:
        filler = rng.choice(fillers).format(name=rng.choice(NAMES), day=rng.choice(DAYS))
        sentences.insert(0 if rng.random() < 0.5 else len(sentences), filler)
    if rng.random() < 0.15:
        sentences.append(_capitalise(rng.choice(VERDICTS[label])) + ".")
    return " ".join(sentences)


def _clause(label: str, subject: str, rng: random.Random, negated: bool = False) -> str:
    """A clause about ``subject`` whose sentiment is ``label``; ``negated`` says it with a negated opposite."""
    likes, dislikes = (LIKES, DISLIKES) if label == POSITIVE else (DISLIKES, LIKES)
    if negated:
        # "not bad" leans positive and "not good" negative: the word alone points the wrong way.
        word = rng.choice(NEGATIVE_WORDS if label == POSITIVE else POSITIVE_WORDS)
        form = rng.random()
        if form < 0.55:
            return f"{subject} was {rng.choice(NEGATIONS)} {word}"
        if form < 0.7:
            return f"{subject} wasn't {word}"
        if form < 0.8 and label == NEGATIVE:
            return f"{subject} was not {rng.choice(SOFTENERS)} {word}"
        return f"I did not {rng.choice(dislikes)[1]} {subject}"
    words = POSITIVE_WORDS if label == POSITIVE else NEGATIVE_WORDS
    form = rng.random()
    if form < 0.6:
        intensity = f"{rng.choice(INTENSIFIERS)} " if rng.random() < 0.5 else ""
        return f"{subject} was {intensity}{rng.choice(words)}"
    if form < 0.8:
        return f"{rng.choice(['I', 'we', 'everyone'])} {rng.choice(likes)[0]} {subject}"
    return f"{subject} felt {rng.choice(words)}"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _build_model(folder: Path, texts: list[str]) -> None:
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer = Tokenizer(
        models.WordPiece(vocab=_vocabulary(texts, normalizer, pre_tokenizer), unk_token="[UNK]")
    )
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")), ("[SEP]", tokenizer.token_to_id("[SEP]"))],
    )

    # Quiet while building (a "Writing model shards" bar would tear a Textual screen), then
    # put the caller's settings back.
    verbosity = transformers.logging.get_verbosity()
    bars = transformers.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        wrapped = transformers.BertTokenizerFast(tokenizer_object=tokenizer, model_max_length=MAX_POSITIONS)
        wrapped.save_pretrained(folder)
        config = transformers.BertConfig(
            vocab_size=tokenizer.get_vocab_size(),
            **TINY_BERT,
            max_position_embeddings=MAX_POSITIONS,
            pad_token_id=tokenizer.token_to_id("[PAD]"),
        )
        # A private RNG stream: the weights are the same on every machine, and the caller's
        # seed state is left as it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(MODEL_SEED)
            model = transformers.BertModel(config)
        model.save_pretrained(folder)
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.logging.enable_progress_bar()


def _vocabulary(texts: list[str], normalizer, pre_tokenizer) -> dict[str, int]:
    """A WordPiece vocabulary trained by ``tokenizers`` on the texts, then made the same on every build.

    ``WordPieceTrainer`` breaks ties in hash-map order: each build numbered the tokens
    differently and kept different intermediate pieces, so the same seed trained to different
    accuracies on different machines. Trained until every word is whole (the vocabulary limit
    is never reached), its tokenization of the corpus is the same on every build; keeping the
    pieces that tokenization uses, plus the character alphabet for unseen words, in a fixed
    order makes the vocabulary itself the same.
    """
    from tokenizers import Tokenizer, models, trainers

    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.normalizer = normalizer
    trained.pre_tokenizer = pre_tokenizer
    trainer = trainers.WordPieceTrainer(
        vocab_size=TRAINER_VOCAB_LIMIT, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    trained.train_from_iterator(texts, trainer=trainer)
    if trained.get_vocab_size() >= TRAINER_VOCAB_LIMIT:
        raise RuntimeError("demo vocabulary hit the trainer's limit; raise TRAINER_VOCAB_LIMIT")
    used = collections.Counter(token for encoding in trained.encode_batch(texts) for token in encoding.tokens)
    alphabet = sorted(
        t for t in trained.get_vocab() if len(t.removeprefix("##")) == 1 and t not in SPECIAL_TOKENS
    )
    pieces = sorted(
        (t for t in used if t not in SPECIAL_TOKENS and t not in alphabet), key=lambda t: (-used[t], t)
    )
    return {token: index for index, token in enumerate([*SPECIAL_TOKENS, *alphabet, *pieces])}
