"""Reduced models inside Hugging Face's own tools, unchanged: pipeline and Trainer."""
import torch
from transformers import Trainer, TrainingArguments, pipeline

import leanbert
from conftest import tiny_model

TEXTS = ["the movie was very good and the plot was great", "bad sad film", "the cat sat on the mat and it was fine"]


def test_text_classification_pipeline_runs_the_reduced_model(tiny_tokenizer):
    model = tiny_model(initializer_range=0.3, vocab_size=64)
    dense = pipeline("text-classification", model=model, tokenizer=tiny_tokenizer, top_k=None)(TEXTS)
    leanbert.apply(model, leanbert.ACCConfig(keep_fractions=(0.5, 0.3, 0.2)))
    reduced = pipeline("text-classification", model=model, tokenizer=tiny_tokenizer, top_k=None)(TEXTS)
    with torch.no_grad():  # what the pipeline returns is the reduced model's own output, one text at a time
        direct = [model(**tiny_tokenizer(t, return_tensors="pt")).logits.softmax(-1)[0] for t in TEXTS]
    for row, probs in zip(reduced, direct):
        by_label = {d["label"]: d["score"] for d in row}
        assert abs(by_label["LABEL_0"] - probs[0].item()) < 1e-5
    assert any(abs(d["score"] - r["score"]) > 1e-4 for a, b in zip(dense, reduced) for d, r in zip(a, b))


class TinyDataset(torch.utils.data.Dataset):
    def __init__(self, tokenizer):
        enc = tokenizer(TEXTS * 4, padding="max_length", max_length=16, truncation=True)
        self.rows = [{**{k: torch.tensor(v[i]) for k, v in enc.items()}, "labels": torch.tensor(i % 2)}
                     for i in range(len(TEXTS) * 4)]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def test_trainer_fine_tunes_a_reduced_model_and_saves_its_config(tiny_tokenizer, tmp_path):
    model = leanbert.apply(tiny_model(vocab_size=64), leanbert.ACCConfig(keep_fractions=(0.75, 0.5, 0.25)))
    before = [p.detach().clone() for p in model.parameters()]
    args = TrainingArguments(output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=4,
                             learning_rate=1e-3, report_to=[], use_cpu=True, save_strategy="no", logging_steps=1)
    trainer = Trainer(model=model, args=args, train_dataset=TinyDataset(tiny_tokenizer))
    result = trainer.train()
    assert torch.isfinite(torch.tensor(result.training_loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert leanbert.current_config(model) == leanbert.ACCConfig(keep_fractions=(0.75, 0.5, 0.25))
    trainer.save_model(str(tmp_path / "saved"))
    assert leanbert.current_config(leanbert.from_pretrained(tmp_path / "saved")).keep_fractions == (0.75, 0.5, 0.25)
