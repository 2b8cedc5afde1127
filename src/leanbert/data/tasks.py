"""What each task is: where its files are, which columns hold text and label, its labels and metric."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskSpec:
    name: str
    folder: str
    text_a: str | int  # header name, or column index for header-less files
    text_b: str | int | None
    label: str | int
    labels: tuple[str, ...] | None  # None: regression
    max_length: int
    metric: str  # main metric reported as `score`
    has_header: bool = True
    dev_files: tuple[str, ...] = ("dev.tsv",)

    @property
    def is_regression(self) -> bool:
        return self.labels is None

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)


# Max lengths follow the FCA reference hyper-parameters (DESIGN 1.2) where given, 128 otherwise.
GLUE_TASKS: dict[str, TaskSpec] = {t.name: t for t in [
    TaskSpec("cola", "CoLA", 3, None, 1, ("0", "1"), 64, "mcc", has_header=False),
    TaskSpec("sst2", "SST-2", "sentence", None, "label", ("0", "1"), 64, "accuracy"),
    TaskSpec("mrpc", "MRPC", "#1 String", "#2 String", "Quality", ("0", "1"), 128, "f1"),
    TaskSpec("stsb", "STS-B", "sentence1", "sentence2", "score", None, 64, "pearson"),
    TaskSpec("qqp", "QQP", "question1", "question2", "is_duplicate", ("0", "1"), 128, "f1"),
    TaskSpec("mnli", "MNLI", "sentence1", "sentence2", "gold_label", ("contradiction", "entailment", "neutral"),
             128, "accuracy", dev_files=("dev_matched.tsv", "dev_mismatched.tsv")),
    TaskSpec("qnli", "QNLI", "question", "sentence", "label", ("entailment", "not_entailment"), 128, "accuracy"),
    TaskSpec("rte", "RTE", "sentence1", "sentence2", "label", ("entailment", "not_entailment"), 256, "accuracy"),
    TaskSpec("wnli", "WNLI", "sentence1", "sentence2", "label", ("0", "1"), 128, "accuracy"),
]}

BBC = TaskSpec("bbc", "bbc", "text", None, "label", ("business", "entertainment", "politics", "sport", "tech"),
               512, "accuracy")

ALIASES = {"sst-2": "sst2", "sts-b": "stsb", "mnli-m": "mnli", "bbcnews": "bbc"}


def task_names() -> list[str]:
    return sorted([*GLUE_TASKS, "bbc"])
