"""Encoder, attention and decoder invariants: padding never changes a result; attention is a distribution."""

import pytest
import torch

from seq2seq.attention import Attention
from seq2seq.config import ModelConfig, Regularizers
from tests.conftest import random_batch, tiny_config, tiny_model


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


@pytest.mark.parametrize("kind", ["dot", "general", "concat"])
def test_attention_weights_sum_to_one_and_are_zero_on_padding(kind):
    torch.manual_seed(0)
    att = Attention(kind, 6)
    values = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = att(torch.randn(3, 6), att.keys(values), values, mask)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert torch.all(weights[~mask] == 0)
    torch.testing.assert_close(context, torch.einsum("bs,bsh->bh", weights, values))


def test_dot_attention_is_luong_dot_score():
    values, query = torch.randn(2, 4, 3), torch.randn(2, 3)
    att = Attention("dot", 3)
    _, weights = att(query, att.keys(values), values, torch.ones(2, 4, dtype=torch.bool))
    torch.testing.assert_close(weights, torch.softmax(torch.einsum("bsh,bh->bs", values, query), 1))


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


def test_tied_embeddings_share_the_output_weights():
    model = tiny_model(emb_dim=10, dec_hidden=10, tie_embeddings=True)
    assert model.decoder.out.weight is model.decoder.embed.weight
    with pytest.raises(ValueError, match="tie_embeddings"):
        tiny_config(emb_dim=8, dec_hidden=10, tie_embeddings=True)


def reference_decoder(model, tgt_in, state, keys, values, src_mask):
    """Teacher forcing as DESIGN §4 writes it: each step projects the whole first-layer input [y_{t-1}; s̃_{t-1}]."""
    dec = model.decoder
    emb = torch.nn.functional.dropout(dec.embed(tgt_in), dec.emb_dropout, dec.training)
    masks = dec.sample_masks(tgt_in.size(0), emb)
    h, c, feed = state
    outs = []
    for emb_t in emb.unbind(1):
        x = torch.cat([emb_t, feed], 1) if dec.input_feeding else emb_t
        hs, cs = [], []
        for k, layer in enumerate(dec.layers):
            if k:
                x = torch.nn.functional.dropout(x, dec.dropout, dec.training)
            x_mask = masks[k][0]
            gx = layer.project((x if x_mask is None else x * x_mask[0]).unsqueeze(0))
            h_k, c_k = layer.step(gx, h[k : k + 1], c[k : k + 1], masks[k])
            hs.append(h_k)
            cs.append(c_k)
            x = h_k[0]
        h, c = torch.cat(hs), torch.cat(cs)
        context, _ = dec.attention(x, keys, values, src_mask)
        feed = torch.tanh(dec.concat(torch.cat([context, x], 1)))
        outs.append(feed)
    return dec.logits(torch.stack(outs, 1))


@pytest.mark.parametrize(
    "cell, input_feeding, dec_layers",
    [(c, f, 2) for c in ("lstm", "gru", "rnn") for f in (True, False)] + [("lstm", True, 1), ("gru", True, 3)],
)
def test_split_first_layer_projection_equals_projecting_the_whole_input(cell, input_feeding, dec_layers):
    # the decoder projects every target embedding before its time loop and only s̃_{t-1} in it; with
    # variational dropout masks and weight drop on (training mode), that equals the per-step projection of
    # [y_{t-1}; s̃_{t-1}], and so does decode_step, one step at a time, in eval
    reg = Regularizers(dropout=0.2, variational=0.3, weight_drop=0.2)
    model = tiny_model(cell=cell, input_feeding=input_feeding, dec_reg=reg, emb_dropout=0.1, out_dropout=0.1,
                       dec_layers=dec_layers)
    src, lens = random_batch(B=4, S=6)
    tgt = torch.randint(4, 26, (4, 5))
    model.train()
    keys, values, src_mask, state = model.encode(src, lens)
    torch.manual_seed(1)
    split = model.decoder(tgt, state, keys, values, src_mask)
    torch.manual_seed(1)
    whole = reference_decoder(model, tgt, state, keys, values, src_mask)
    torch.testing.assert_close(split, whole, atol=1e-5, rtol=1e-5)
    grads = torch.autograd.grad(split.square().sum(), list(model.decoder.parameters()), allow_unused=True)
    ref_grads = torch.autograd.grad(whole.square().sum(), list(model.decoder.parameters()), allow_unused=True)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)

    model.eval()
    with torch.no_grad():
        keys, values, src_mask, state = model.encode(src, lens)
        forced = torch.log_softmax(model.decoder(tgt, state, keys, values, src_mask), -1)
        for t in range(tgt.size(1)):
            logp, _, state = model.decode_step(tgt[:, t], state, keys, values, src_mask)
            torch.testing.assert_close(logp, forced[:, t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("input_feeding", [True, False])
def test_packed_targets_equal_the_padded_batch_on_the_scored_steps(cell, input_feeding):
    # given tgt_lens the decoder drops each sentence once its scored steps are done; the logits and every
    # gradient of those steps equal the full padded batch's (train mode, zoneout and dropout rates 0 so that
    # both runs draw nothing; the custom time loop in eval, where zoneout uses its expectation)
    src, lens = random_batch(B=5, S=6)
    tgt = torch.randint(4, 26, (5, 7))
    tgt_lens = torch.tensor([3, 7, 1, 5, 3])
    mask = torch.arange(7).unsqueeze(0) < tgt_lens.unsqueeze(1)
    model = tiny_model(cell=cell, input_feeding=input_feeding).train()
    packed = model(src, lens, tgt, tgt_lens)
    full = model(src, lens, tgt)
    assert packed.shape == (int(tgt_lens.sum()), 26)
    torch.testing.assert_close(packed, full[mask], atol=1e-5, rtol=1e-5)
    weights = torch.randn(packed.shape)  # a loss that weighs every row differently, so row order matters
    grads = torch.autograd.grad((packed * weights).sum(), list(model.parameters()), allow_unused=True)
    ref = torch.autograd.grad((full[mask] * weights).sum(), list(model.parameters()), allow_unused=True)
    for g, r in zip(grads, ref):
        if r is None:
            assert g is None
        else:
            torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)
    if cell == "lstm":
        model = tiny_model(cell=cell, input_feeding=input_feeding, dec_reg=Regularizers(zoneout_c=0.3))
        with torch.no_grad():
            torch.testing.assert_close(model(src, lens, tgt, tgt_lens), model(src, lens, tgt)[mask])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_packed_targets_keep_each_sentence_s_masks(cell):
    # targets already longest first, so packing keeps the order and both runs draw the same masks (nothing is
    # drawn per step: no dropout between layers or before the output); rows dropped as sentences end must
    # take their masks with them, or the packed logits differ from the padded batch's
    reg = Regularizers(variational=0.4, rnndrop=0.3 if cell == "lstm" else 0.0, weight_drop=0.3)
    model = tiny_model(cell=cell, dec_reg=reg, emb_dropout=0.2).train()
    src, lens = random_batch(B=4, S=6)
    tgt = torch.randint(4, 26, (4, 6))
    tgt_lens = torch.tensor([6, 5, 3, 1])
    mask = torch.arange(6).unsqueeze(0) < tgt_lens.unsqueeze(1)
    torch.manual_seed(3)
    packed = model(src, lens, tgt, tgt_lens)
    torch.manual_seed(3)
    full = model(src, lens, tgt)
    torch.testing.assert_close(packed, full[mask], atol=1e-5, rtol=1e-5)


def test_input_feeding_switch_changes_the_first_layer_input():
    on, off = tiny_model(input_feeding=True), tiny_model(input_feeding=False)
    assert on.decoder.layers[0].weight_ih.size(2) == 8 + 10
    assert off.decoder.layers[0].weight_ih.size(2) == 8
    src, lens = random_batch(B=2, S=4)
    assert off(src, lens, torch.randint(4, 26, (2, 3))).shape == (2, 3, 26)


def test_zero_bridge_and_unequal_depths():
    src, lens = random_batch(B=2, S=4)
    for overrides in (dict(bridge="zeros"), dict(enc_layers=3, dec_layers=1), dict(cell="gru", dec_layers=3)):
        model = tiny_model(**overrides)
        assert model(src, lens, torch.randint(4, 26, (2, 3))).shape == (2, 3, 26)


@pytest.mark.parametrize(
    "overrides, name",
    [
        (dict(cell="transformer"), "cell"),
        (dict(attention="additive"), "attention"),
        (dict(bridge="mlp"), "bridge"),
        (dict(emb_dim=0), "emb_dim"),
        (dict(emb_dropout=1.0), "emb_dropout"),
        (dict(enc_reg=Regularizers(zoneout_h=1.5)), "zoneout_h"),
        (dict(dec_reg={"variational": -0.5}), "variational"),
        (dict(cell="gru", dec_reg=Regularizers(zoneout_c=0.1)), "zoneout_c"),
        (dict(eos_id=99), "eos_id"),
    ],
)
def test_bad_model_config_names_the_argument(overrides, name):
    with pytest.raises(ValueError, match=name):
        tiny_config(**overrides)


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


def test_config_round_trips_through_a_dict():
    cfg = tiny_config(enc_reg=Regularizers(zoneout_c=0.1))
    again = ModelConfig(**cfg.to_dict())
    assert again == cfg and again.enc_reg.zoneout_c == 0.1
