"""Search invariants: beam 1 equals greedy; a batch equals its sentences one by one; scripted equals eager."""

import pytest
import torch

from seq2seq.search import Search
from tests.conftest import random_batch, tiny_model


def trim(tokens: torch.Tensor, length: int) -> list[int]:
    return tokens[:length].tolist()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("seed", [0, 1])
def test_beam_one_equals_greedy(cell, seed):
    search = Search(tiny_model(seed=seed, cell=cell))
    src, lens = random_batch(B=6, S=7, seed=seed)
    with torch.no_grad():
        g, b = search.greedy(src, lens), search.beam(src, lens, 1, 1)
    assert torch.equal(g[0], b[0]) and torch.equal(g[2], b[2])
    torch.testing.assert_close(g[1], b[1])
    torch.testing.assert_close(g[3], b[3])


@pytest.mark.parametrize("beam", [1, 4])
def test_a_batch_equals_its_sentences_one_by_one(beam):
    search = Search(tiny_model(seed=3))
    src, lens = random_batch(B=6, S=8, seed=3)
    with torch.no_grad():
        tokens, scores, lengths, _ = search(src, lens, beam, min(beam, 2))
        for b in range(6):
            t1, s1, l1, _ = search(src[b : b + 1, : lens[b]], lens[b : b + 1], beam, min(beam, 2))
            for n in range(t1.size(1)):
                assert trim(t1[0, n], l1[0, n]) == trim(tokens[b, n], lengths[b, n])
                assert abs(float(s1[0, n]) - float(scores[b, n])) < 1e-5


def test_n_best_is_sorted_and_distinct_and_respects_max_length():
    search = Search(tiny_model(seed=4))
    src, lens = random_batch(B=4, S=6, seed=4)
    with torch.no_grad():
        tokens, scores, lengths, attn = search.beam(src, lens, 5, 5, 0.5, 2)
    assert torch.all(scores[:, :-1] >= scores[:, 1:])
    max_lens = (lens.double() * 0.5 + 2).floor().long()
    assert torch.all(lengths + 1 <= max_lens.unsqueeze(1))  # EOS counts towards the limit
    for b in range(4):
        hyps = {tuple(trim(tokens[b, n], lengths[b, n])) for n in range(5)}
        assert len(hyps) == 5
    # Attention rows of each hypothesis step sum to 1 and are zero on source padding.
    for b in range(4):
        rows = attn[b, 0, : lengths[b, 0] + 1]
        torch.testing.assert_close(rows.sum(1), torch.ones(rows.size(0)))
        assert torch.all(rows[:, lens[b] :] == 0)


def test_scores_are_length_normalized_log_probabilities():
    model = tiny_model(seed=5)
    search = Search(model)
    src, lens = random_batch(B=1, S=5, seed=5)
    with torch.no_grad():
        tokens, scores, lengths, _ = search.greedy(src, lens, length_penalty=1.0)
        ids = trim(tokens[0, 0], lengths[0, 0]) + [model.eos_id]
        tgt = torch.tensor([[model.bos_id] + ids[:-1]])
        logp = torch.log_softmax(model(src, lens, tgt), -1)[0]
        total = sum(float(logp[t, i]) for t, i in enumerate(ids))
    assert abs(total / len(ids) - float(scores[0, 0])) < 1e-4


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("attention", ["dot", "general", "concat"])
def test_scripted_equals_eager_token_for_token(cell, attention):
    from seq2seq.config import Regularizers

    reg = Regularizers(zoneout_h=0.1, zoneout_c=0.1 if cell == "lstm" else 0.0)
    search = Search(tiny_model(seed=6, cell=cell, attention=attention, enc_reg=reg, dec_reg=reg)).eval()
    scripted = torch.jit.script(search)
    for seed in range(3):
        src, lens = random_batch(B=5, S=9, seed=seed)
        with torch.no_grad():
            for beam, n_best in ((1, 1), (4, 3)):
                eager, script = search(src, lens, beam, n_best), scripted(src, lens, beam, n_best)
                assert torch.equal(eager[0], script[0]) and torch.equal(eager[2], script[2])
                torch.testing.assert_close(eager[1], script[1])


@pytest.mark.parametrize(
    "args, name",
    [
        (dict(beam_size=0), "beam_size"),
        (dict(beam_size=2, n_best=3), "n_best"),
        (dict(max_len_b=0), "max_len"),
    ],
)
def test_bad_search_arguments_raise(args, name):
    search = Search(tiny_model())
    src, lens = random_batch(B=2, S=4)
    kwargs = dict(beam_size=2, n_best=1, max_len_a=1.5, max_len_b=5)
    kwargs.update(args)
    with pytest.raises(ValueError, match=name):
        search(src, lens, **kwargs)


def test_empty_batch_and_bad_lengths_raise():
    search = Search(tiny_model())
    with pytest.raises(ValueError, match="src"):
        search(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    src, _ = random_batch(B=2, S=4)
    with pytest.raises(ValueError, match="src_lens"):
        search(src, torch.tensor([9, 1]))


@pytest.mark.parametrize("penalty", [-0.5, float("nan"), float("inf")])
@pytest.mark.parametrize("beam", [1, 3])
def test_a_negative_or_nan_length_penalty_is_refused(penalty, beam):
    search = Search(tiny_model())
    src, lens = random_batch(B=2, S=4)
    with pytest.raises(ValueError, match="^length_penalty: "):
        search(src, lens, beam, 1, 1.5, 5, penalty)
