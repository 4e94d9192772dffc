"""The history read as a sequence, the catalog losses, and reproducible fits."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rag_recs.config import RankerConfig
from rag_recs.data.synthetic import generate
from rag_recs.ranker import DeepFM, DeepFMRanker, features
from rag_recs.ranker.features import Tensors
from rag_recs.ranker.layers import SequenceEncoder
from rag_recs.ranker.losses import FullSoftmax, SampledSoftmax
from rag_recs.ranker.trained import build_model

# ---- the encoder ------------------------------------------------------------------------------


def test_the_encoder_is_causal():
    """Newest first: position p reads positions p.. (older); changing the item at position t
    (a later item than every position after t) leaves positions t+1.. unchanged."""
    torch.manual_seed(0)
    encoder = SequenceEncoder(dim=8, max_len=6, layers=2, heads=2).eval()
    vectors = torch.randn(3, 6, 8)
    ids = torch.tensor([[5, 4, 3, 2, 1, 7], [9, 8, 7, 0, 0, 0], [1, 2, 3, 4, 5, 6]])
    before = encoder.positions(vectors, ids)
    for t in range(5):
        changed = vectors.clone()
        changed[:, t] += torch.randn(3, 8)  # (a constant shift: LayerNorm would undo it)
        after = encoder.positions(changed, ids)
        torch.testing.assert_close(after[:, t + 1 :], before[:, t + 1 :], rtol=0, atol=1e-6)
        assert not torch.allclose(after[:, t], before[:, t])  # the position itself does change
    # the newest position, computed alone, is the full computation's first
    newest = encoder(vectors, ids)
    torch.testing.assert_close(newest, before[:, 0], rtol=0, atol=1e-6)


def test_an_empty_history_gives_a_zero_field_and_padding_is_ignored():
    torch.manual_seed(1)
    encoder = SequenceEncoder(dim=4, max_len=5).eval()
    vectors = torch.randn(2, 5, 4)
    ids = torch.tensor([[0, 0, 0, 0, 0], [3, 2, 0, 0, 0]])
    out = encoder(vectors, ids)
    assert torch.equal(out[0], torch.zeros(4))
    noisy = vectors.clone()
    noisy[1, 2:] = 100.0  # padding positions: never read
    torch.testing.assert_close(encoder(noisy, ids)[1], out[1])


# ---- the catalog losses -----------------------------------------------------------------------


def _tiny_model() -> tuple[DeepFM, Tensors, Tensors, torch.Tensor]:
    """A DeepFM with a sequence history over 6 items; queries, the item table, targets."""
    torch.manual_seed(2)
    n_items = 6
    model = DeepFM(40, n_fields=3, n_dense=0, dim=8, hidden=(16,),
                   sequence=SequenceEncoder(8, 4), sequence_at=0)  # fmt: skip
    with torch.no_grad():
        model.embedding.table.weight.normal_(0, 0.5)  # logits far from uniform
    gen = torch.Generator().manual_seed(3)
    query = Tensors(
        torch.randint(1, 10, (5, 1), generator=gen),
        torch.zeros(5, 0),
        [torch.randint(11, 11 + n_items, (5, 4), generator=gen)],
    )
    rows = torch.arange(10, 11 + n_items)  # item row k -> embedding row 10 + k (0: padding)
    rows[0] = 0
    items = Tensors(rows.unsqueeze(1), torch.zeros(n_items + 1, 0), [])
    targets = torch.tensor([1, 3, 6, 2, 3])
    return model, query, items, targets


@pytest.mark.parametrize("weights", [np.ones(6), np.array([9.0, 1.0, 3.0, 0.5, 2.0, 1.0])])
def test_sampled_softmax_agrees_with_the_full_softmax_on_a_tiny_catalog(weights):
    model, query, items, targets = _tiny_model()
    full = FullSoftmax()(model, query, targets, items)
    by_hand = torch.nn.functional.cross_entropy(
        model(query, items.take((None, slice(1, None)))), targets - 1
    )
    torch.testing.assert_close(full, by_hand)
    sampled = SampledSoftmax(20_000, weights, seed=4)(model, query, targets, items)
    # the log(K q) correction makes the sample's sum estimate the catalog's
    torch.testing.assert_close(sampled, full, rtol=0.02, atol=0.0)
    # and so the gradients agree too
    model.zero_grad()
    full.backward()
    expected = model.embedding.table.weight.grad.clone()
    model.zero_grad()
    SampledSoftmax(20_000, weights, seed=5)(model, query, targets, items).backward()
    got = model.embedding.table.weight.grad
    assert torch.nn.functional.cosine_similarity(got.flatten(), expected.flatten(), 0) > 0.99


def test_sampled_softmax_leaves_out_accidental_hits():
    model, query, items, targets = _tiny_model()
    loss = SampledSoftmax(50, np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), seed=0)
    # every draw is item 3, the positive of rows 1 and 4: those rows have nothing to beat
    per_row = []
    for r in range(5):
        one = Tensors(query.sparse[r : r + 1], query.dense[r : r + 1], [query.bags[0][r : r + 1]])
        per_row.append(float(loss(model, one, targets[r : r + 1], items).detach()))
    assert per_row[1] == per_row[4] == 0.0
    assert all(x > 0 for i, x in enumerate(per_row) if i not in (1, 4))


def test_the_softmax_logits_are_the_full_logits_less_the_row_terms():
    """Without a hidden layer a softmax's logits (one fused product) are DeepFM's full logits
    less what every item of a row shares (bias, the query's own terms, its MLP part)."""
    model, query, items, _ = _tiny_model()
    model.mlp = type(model.mlp)(3 * 8, ())  # no hidden layer, as under the default softmax
    catalog = items.take(slice(1, None)).take((None, slice(None)))  # [1, 6]
    fast = model(query, catalog, within_rows=True)
    full = model(query, catalog)
    q_vec, q_w = model.embed_query(query)
    q_sum = q_vec.sum(1)
    own = model.bias + q_w.sum(1) + 0.5 * (q_sum.pow(2).sum(-1) - q_vec.pow(2).sum((1, 2)))
    row = own + model.mlp.query_part(q_vec.flatten(1))[:, 0]
    torch.testing.assert_close(fast, full - row[:, None], rtol=1e-5, atol=1e-5)
    fast.sum().backward()  # the row terms get a gradient of exactly zero, not none
    assert model.bias.grad is not None and float(model.bias.grad) == 0.0


def test_trimmed_batches_score_the_same(monkeypatch):
    """Dropping a batch's all-padding history columns changes nothing but the work."""
    model, query, items, _ = _tiny_model()
    with torch.no_grad():
        model.embedding.table.weight[0] = 0.0  # the padding row, zero in a built model
    monkeypatch.setattr(features, "TRIM_ABOVE", 0)  # this tiny history field has 4 columns
    query.bags[0][:, 2:] = 0  # every history of this batch has at most 2 items
    trimmed = query.trimmed()
    assert trimmed.bags[0].shape[1] == 2
    catalog = items.take(slice(1, None)).take((None, slice(None)))
    torch.testing.assert_close(model(trimmed, catalog), model(query, catalog))
    empty = Tensors(query.sparse, query.dense, [torch.zeros_like(query.bags[0])]).trimmed()
    assert empty.bags[0].shape[1] == 1  # an all-empty batch keeps one (padding) column


def test_batches_grouped_by_history_length():
    from rag_recs.ranker.fit import LENGTH_POOL, by_length

    gen = torch.Generator().manual_seed(0)
    n, batch = 5000, 20
    lengths = torch.randint(0, 50, (n,), generator=gen)
    order = torch.randperm(n, generator=gen)
    grouped = by_length(order, lengths, batch, gen)
    assert torch.equal(grouped.sort().values, order.sort().values)  # the same rows, once each
    spans = [int(b.max() - b.min()) for b in lengths[grouped].split(batch)]
    plain = [int(b.max() - b.min()) for b in lengths[order].split(batch)]
    assert np.mean(spans) < np.mean(plain) / 5  # similar lengths within a batch
    assert len(order) > batch * LENGTH_POOL  # (several pools: batches from all of them)
    assert by_length(order, None, batch, gen) is order


# ---- fits with the new field --------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return generate(n_users=80, n_items=50, seed=7)


def _config(**overrides):
    base = {"epochs": 2, "implicit_batch": 64, "progress": False, "device": "cpu", "seed": 3,
            "history_len": 8, "min_steps": 0}  # fmt: skip
    return RankerConfig(**{**base, **overrides})


def test_a_saved_sequence_model_loads_and_scores_the_same(data, tmp_path):
    ranker = DeepFMRanker(_config()).fit(data)
    trained = ranker.trained
    assert trained.loss == "softmax"  # a 50-item catalog: the full softmax
    assert trained.model.embedding.sequence is not None
    path = ranker.save(tmp_path / "r")
    meta = json.loads((path / "ranker.json").read_text())
    assert meta["loss"] == "softmax"
    assert meta["config"]["history_encoder"] == "sequence"
    assert meta["config"]["train_threads"] == 1
    assert meta["config"]["hidden"] == []  # the widths used, not "auto"
    loaded = DeepFMRanker.load(path, device="cpu")
    assert loaded.trained.loss == "softmax"
    rows = np.arange(1, 41)
    np.testing.assert_array_equal(loaded.score_matrix(rows), ranker.score_matrix(rows))
    user = data.interactions["user_id"].iloc[0]
    assert loaded.top_k(user, 5) == ranker.top_k(user, 5)


@pytest.mark.parametrize(
    ("encoder", "loss"), [("bag", "bce"), ("bag", "softmax"), ("sequence", "sampled_softmax")]
)
def test_every_encoder_and_loss_trains(data, encoder, loss):
    ranker = DeepFMRanker(_config(history_encoder=encoder, loss=loss, epochs=3)).fit(data)
    assert (ranker.trained.model.embedding.sequence is None) == (encoder == "bag")
    assert ranker.trained.loss == loss
    log = ranker.log
    assert log.losses[-1] < log.losses[0]
    assert np.isfinite(ranker.score_matrix(np.arange(1, 11))[:, 1:]).all()


def test_labelled_data_keeps_the_binary_loss(data):
    ranker = DeepFMRanker(_config(objective="explicit")).fit(data)
    assert ranker.trained.loss == "bce"
    assert ranker.trained.config.hidden == (128, 64)


def test_the_encoder_is_trained(data):
    config = _config()
    ranker = DeepFMRanker(config).fit(data)
    torch.manual_seed(config.seed)  # the fit's first draws are the model's initial weights
    initial = build_model(ranker.trained.feature_map, ranker.trained.config)
    encoder = ranker.trained.model.embedding.sequence
    assert not torch.equal(encoder.position, initial.embedding.sequence.position)
    assert not torch.equal(
        encoder.blocks[0].query.weight, initial.embedding.sequence.blocks[0].query.weight
    )


# ---- reproducibility ----------------------------------------------------------------------------

BUSY = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"


@pytest.mark.slow
def test_two_fits_one_on_a_loaded_machine_have_equal_weights(data, monkeypatch):
    """The thread count is fixed by the config, not chosen by timing: a busy machine cannot
    change it, nor the order of float sums."""
    from rag_recs.ranker import train

    threads_seen: list[int] = []
    steps = train._steps

    def spy(*args, **kwargs):  # the thread count every epoch's steps actually ran on
        threads_seen.append(torch.get_num_threads())
        return steps(*args, **kwargs)

    monkeypatch.setattr(train, "_steps", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # more than the default fit uses; the suite runs on one (conftest)
    try:
        config = _config(epochs=3)  # the default train_threads
        quiet = DeepFMRanker(config).fit(data).trained.model.state_dict()
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(3)]
        try:
            loaded = DeepFMRanker(config).fit(data).trained.model.state_dict()
        finally:
            for p in busy:
                p.kill()
                p.wait()
    finally:
        torch.set_num_threads(before)
    # neither the process's thread count (2) nor the load chose the steps' threads: the config
    # did (a fit that timed one thread against two would have tried both)
    assert threads_seen == [config.train_threads] * 6
    for name, value in quiet.items():
        assert torch.equal(value, loaded[name]), name


# ---- streamed and data-parallel fits ----------------------------------------------------------


def test_a_streamed_fit_trains_the_sequence_field(data, tmp_path):
    from rag_recs.data.stream import ParquetStream
    from rag_recs.ranker.stream_fit import fit_stream

    inter = data.interactions.sort_values("timestamp", kind="stable")
    path = tmp_path / "inter.parquet"
    inter[["user_id", "item_id", "timestamp"]].to_parquet(path, index=False, row_group_size=400)
    for loss in ("softmax", "sampled_softmax"):
        config = _config(epochs=3, loss=loss, softmax_negatives=32)
        trained = fit_stream(ParquetStream(path, batch_rows=400), config).trained
        assert trained.loss == loss
        torch.manual_seed(config.seed)  # the fit's first draws are the model's initial weights
        initial = build_model(trained.feature_map, trained.config).embedding.sequence
        encoder = trained.model.embedding.sequence
        assert encoder is not None
        assert not torch.equal(encoder.blocks[0].query.weight, initial.blocks[0].query.weight)
        assert trained.log.losses[-1] < trained.log.losses[0]
