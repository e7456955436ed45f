"""The whole model (seq2seq/model.py): padding never changes a result, training learns, every argument checked;
regularizer rates changed in place."""

import pytest
import torch

from seq2seq.config import Regularizers
from seq2seq.search import Search
from tests.conftest import random_batch, tiny_model


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_a_sentence_encodes_and_decodes_the_same_alone_and_in_a_batch(cell, attention):
    model = tiny_model(cell=cell, attention=attention, enc_reg=Regularizers(zoneout_c=0.2 if cell == "lstm" else 0))
    src, lens = random_batch(B=4, S=7)
    tgt = torch.randint(4, 26, (4, 5))
    with torch.no_grad():
        batched = model(src, lens, tgt)
        for b in range(4):
            alone = model(src[b : b + 1, : lens[b]], lens[b : b + 1], tgt[b : b + 1])
            torch.testing.assert_close(batched[b], alone[0], atol=1e-5, rtol=0)


def test_training_step_reduces_loss_and_every_parameter_gets_a_gradient():
    model = tiny_model(enc_reg=Regularizers(dropout=0.1, zoneout_c=0.1, recurrent_dropout=0.1))
    model.train()
    src, lens = random_batch(B=6, S=6)
    tgt = torch.randint(4, 26, (6, 6))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(40):
        logits = model(src, lens, tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 26), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        if not losses:
            missing = [n for n, p in model.named_parameters() if p.grad is None and "w_" not in n and "v." not in n]
            assert missing == []
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.6


def test_zero_bridge_and_unequal_depths():
    src, lens = random_batch(B=2, S=4)
    for overrides in (dict(bridge="zeros"), dict(enc_layers=3, dec_layers=1), dict(cell="gru", dec_layers=3)):
        model = tiny_model(**overrides)
        assert model(src, lens, torch.randint(4, 26, (2, 3))).shape == (2, 3, 26)


def test_bad_shapes_are_refused():
    model = tiny_model()
    src, lens = random_batch(B=2, S=4)
    with pytest.raises(ValueError, match="src"):
        model(src[0], lens, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="tgt_in"):
        model(src, lens, torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="lens"):
        model(src, torch.tensor([5, 1]), torch.zeros(2, 3, dtype=torch.long))
    tgt = torch.zeros(2, 3, dtype=torch.long)
    for bad in (torch.tensor([3]), torch.tensor([[3, 3]]), torch.tensor([0, 2]), torch.tensor([3, 4])):
        with pytest.raises(ValueError, match="tgt_lens"):
            model(src, lens, tgt, bad)


def test_forward_and_encode_name_their_own_arguments():
    model = tiny_model()
    src, lens = random_batch(B=2, S=4)
    tgt = torch.zeros(2, 3, dtype=torch.long)
    for bad in (torch.tensor([5, 1]), torch.tensor([0, 1]), torch.tensor([3]), torch.tensor([[4, 4]])):
        with pytest.raises(ValueError, match="^src_lens: "):
            model(src, bad, tgt)
        with pytest.raises(ValueError, match="^src_lens: "):
            model.encode(src, bad)
    with pytest.raises(ValueError, match="^src: "):
        model.encode(torch.zeros(0, 4, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="^src: "):
        model.encode(src.unsqueeze(2), lens)


def test_ids_outside_the_vocabulary_and_float_ids_or_lengths_are_refused():
    # src_vocab 24, tgt_vocab 26: the embeddings would raise IndexError, or RuntimeError on floats
    model = tiny_model()
    src, lens = random_batch(B=2, S=4)
    tgt = torch.randint(4, 26, (2, 3))
    for bad in (src.masked_fill(src == 3, 24), src.masked_fill(src == 3, -1), src.float()):
        with pytest.raises(ValueError, match="^src: token ids"):
            model(bad, lens, tgt)
        with pytest.raises(ValueError, match="^src: token ids"):
            Search(model)(bad, lens, 2, 1)
    with pytest.raises(ValueError, match=r"^tgt_in: token ids must be in \[0, 26\), got \d+ to 26$"):
        model(src, lens, torch.cat([tgt, torch.full((2, 1), 26)], 1))
    with pytest.raises(ValueError, match="^tgt_in: token ids"):
        model(src, lens, tgt.double())
    with pytest.raises(ValueError, match="^src_lens: lengths must be a torch.long"):
        model(src, lens.float(), tgt)
    with pytest.raises(ValueError, match="^tgt_lens: lengths must be a torch.long"):
        model(src, lens, tgt, torch.tensor([3.0, 2.0]))
    assert model(src.int(), lens, tgt.int()).shape == (2, 3, 26)  # int32 ids embed like int64 ones


def test_rates_at_zero_hand_the_encoder_back_to_the_fused_kernel():
    # what the trainer's regularizer schedule does (training.config.scaled_recurrent at scale 0 gives zero rates)
    model = tiny_model(enc_reg=Regularizers(zoneout_c=0.2), dec_reg=Regularizers(recurrent_dropout=0.2)).train()
    assert model.encoder.rnn.use_loop()
    model.set_regularizers(Regularizers(zoneout_c=0.0), Regularizers())
    assert not model.encoder.rnn.use_loop()
    assert all(layer.recurrent_dropout == 0.0 for layer in model.decoder.layers)
    model.set_regularizers(Regularizers(zoneout_c=0.1), Regularizers(recurrent_dropout=0.3))
    assert model.encoder.rnn.use_loop() and model.encoder.rnn.layers[1].zoneout_c == 0.1
    assert model.decoder.layers[0].recurrent_dropout == 0.3
    with pytest.raises(ValueError, match="rnndrop"):
        model.set_regularizers(Regularizers(), Regularizers(rnndrop=1.5))
