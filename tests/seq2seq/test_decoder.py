"""The decoder (seq2seq/decoder.py): the split first-layer projection and `decode_step` equal the textbook step;
packed targets equal the padded batch; input feeding and tied embeddings."""

import pytest
import torch

from seq2seq.config import Regularizers
from tests.conftest import random_batch, tiny_config, tiny_model


def test_tied_embeddings_share_the_output_weights():
    model = tiny_model(emb_dim=10, dec_hidden=10, tie_embeddings=True)
    assert model.decoder.out.weight is model.decoder.embed.weight
    with pytest.raises(ValueError, match="tie_embeddings"):
        tiny_config(emb_dim=8, dec_hidden=10, tie_embeddings=True)


def reference_decoder(model, tgt_in, state, keys, values, src_mask):
    """Teacher forcing as docs/design.md §4 writes it: each step projects the first-layer input [y_{t-1}; s̃_{t-1}]."""
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
        step_w, masks = model.decoder.search_weights()
        for t in range(tgt.size(1)):
            logp, _, state = model.decoder.decode_step(tgt[:, t], state, keys, values, src_mask, step_w, masks)
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


@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_deferred_gradients_equal_autograd_s_per_step_gradients(attention, monkeypatch):
    # the weights' gradients deferred to one product each equal those autograd records step by step (deferring
    # off), for every parameter of the model, with each attention score
    model = tiny_model(attention=attention).train()
    src, lens = random_batch(B=5, S=6)
    tgt, tgt_lens = torch.randint(4, 26, (5, 7)), torch.tensor([3, 7, 1, 5, 3])

    def grads():
        torch.manual_seed(1)
        logits = model(src, lens, tgt, tgt_lens)
        w = torch.linspace(-1, 1, logits.numel()).view_as(logits)
        return torch.autograd.grad((logits * w).sum(), list(model.parameters()), allow_unused=True)

    deferred = grads()
    monkeypatch.setattr("seq2seq.decoder.deferring", lambda: False)
    for g, r in zip(deferred, grads()):
        assert (g is None) == (r is None)
        if r is not None:
            torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)
