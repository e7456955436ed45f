"""Step-level decoding (seq2seq/decoding.py, `Search.start/join/step/select`): sentences that join a running
decoding between its steps get the tokens they get alone and in a whole batch; scripted equals eager."""

import pytest
import torch

from seq2seq.search import Search
from tests.conftest import random_batch, tiny_model
from tests.seq2seq.test_search_options import small_lexicon

Hyps = list[tuple[list[int], float]]  # a sentence's hypotheses: tokens and score


def hypotheses(result, b: int) -> Hyps:
    tokens, scores, lengths, _ = result
    return [(tokens[b, n, : lengths[b, n]].tolist(), float(scores[b, n])) for n in range(tokens.size(1))]


def continuous(search, src, lens, arrivals: list[int], beam: int, n_best: int, **opts) -> dict[int, tuple]:
    """Sentence b joins the running decoding before step arrivals[b] (alone, or with those arriving with it):
    {b: (its hypotheses, its attention (n_best, T, S))}."""
    out: dict[int, tuple] = {}
    d, t = None, 0
    while len(out) < src.size(0):
        now = [b for b, a in enumerate(arrivals) if a == t]
        if now:
            S = int(lens[now].max())
            new = search.start(src[now, :S], lens[now], torch.tensor(now), beam, n_best, **opts)
            d = new if d is None else search.join(d, new)
        if d is not None and d.ids.numel():
            d, ids, src_lens, result = search.step(d)
            for i, b in enumerate(ids.tolist()):
                assert int(src_lens[i]) == int(lens[b])
                out[b] = (hypotheses(result, i), result[3][i])
        t += 1
    return out


ARRIVALS = [0, 0, 3, 1, 7, 3, 12, 2]  # steps at which the 8 sentences arrive; 0 and 1 together, 2 and 5 too


@pytest.mark.parametrize("beam, n_best", [(1, 1), (5, 1), (5, 3)])
@pytest.mark.parametrize("stop", ["best", "beam"])
def test_sentences_joining_between_steps_get_the_tokens_they_get_alone_and_in_a_batch(beam, n_best, stop):
    search = Search(tiny_model(seed=3))
    src, lens = random_batch(B=8, S=9, seed=3)
    with torch.no_grad():
        got = continuous(search, src, lens, ARRIVALS, beam, n_best, stop=stop)
        whole = search(src, lens, beam, n_best, stop=stop)
        for b in range(8):
            alone = search(src[b : b + 1, : lens[b]], lens[b : b + 1], beam, n_best, stop=stop)
            hyps = got[b][0]
            assert [h[0] for h in hyps] == [h[0] for h in hypotheses(alone, 0)] == [h[0] for h in hypotheses(whole, b)]
            for (_, s), (_, s_alone) in zip(hyps, hypotheses(alone, 0)):
                assert s == pytest.approx(s_alone, abs=1e-5)
            L = int(alone[2][0].max()) + 1  # attention: the same rows, zero beyond the sentence's source
            S = int(lens[b])
            torch.testing.assert_close(got[b][1][:, :L, :S], alone[3][0][:, :L, :S])
            assert torch.all(got[b][1][:, :, S:] == 0)
        if beam == 1:  # the continuous path's beam of one is greedy
            greedy = search.greedy(src, lens)
            assert [got[b][0][0][0] for b in range(8)] == [hypotheses(greedy, b)[0][0] for b in range(8)]


@pytest.mark.parametrize("beam", [1, 4])
def test_with_a_shortlist_and_without_attention_joining_changes_nothing(beam):
    model = tiny_model(seed=4)
    search = Search(model, lexicon=small_lexicon(model, seed=4))
    src, lens = random_batch(B=8, S=9, seed=4)
    with torch.no_grad():
        got = continuous(search, src, lens, ARRIVALS, beam, 1, shortlist=True, with_attention=False)
        whole = search(src, lens, beam, 1, shortlist=True, with_attention=False)
    assert [got[b][0][0][0] for b in range(8)] == [hypotheses(whole, b)[0][0] for b in range(8)]
    assert all(got[b][1].size(1) == 0 for b in range(8))


def test_select_drops_sentences_and_the_rest_decode_as_before():
    search = Search(tiny_model(seed=5))
    src, lens = random_batch(B=6, S=8, seed=5)
    with torch.no_grad():
        whole = search(src, lens, 3, 1)
        d = search.start(src, lens, torch.arange(10, 16), 3)
        d, _, _, _ = search.step(d)
        d = search.select(d, torch.tensor([4, 1]))  # sentences 14 and 11 go on
        assert d.ids.tolist() == [14, 11]
        done: dict[int, Hyps] = {}
        while d.ids.numel():
            d, ids, _, result = search.step(d)
            done.update({i: hypotheses(result, n) for n, i in enumerate(ids.tolist())})
    assert sorted(done) == [11, 14]
    assert done[14][0][0] == hypotheses(whole, 4)[0][0] and done[11][0][0] == hypotheses(whole, 1)[0][0]
    with pytest.raises(ValueError, match="keep: expected positions"):
        search.select(search.start(src, lens, torch.arange(6)), torch.tensor([6]))


def test_join_and_step_refuse_what_they_cannot_do():
    search = Search(tiny_model(seed=6))
    src, lens = random_batch(B=2, S=5, seed=6)
    with torch.no_grad():
        with pytest.raises(ValueError, match="different search options"):
            search.join(search.start(src, lens, torch.arange(2), 3), search.start(src, lens, torch.arange(2), 2))
        with pytest.raises(ValueError, match="ids: expected one id per sentence"):
            search.start(src, lens, torch.arange(3))
        d = search.start(src, lens, torch.arange(2), 1, max_len_a=0.0, max_len_b=1)  # one step each
        d, ids, _, _ = search.step(d)
        assert sorted(ids.tolist()) == [0, 1] and d.ids.numel() == 0
        with pytest.raises(ValueError, match="no sentence left"):
            search.step(d)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_scripted_equals_eager_step_by_step(cell):
    search = Search(tiny_model(seed=7, cell=cell)).eval()
    scripted = torch.jit.script(search)
    src, lens = random_batch(B=8, S=9, seed=7)
    with torch.no_grad():
        for beam, n_best in ((1, 1), (4, 2)):
            eager = continuous(search, src, lens, ARRIVALS, beam, n_best)
            script = continuous(scripted, src, lens, ARRIVALS, beam, n_best)
            for b in range(8):
                assert [h[0] for h in eager[b][0]] == [h[0] for h in script[b][0]]
                torch.testing.assert_close([h[1] for h in eager[b][0]], [h[1] for h in script[b][0]])
                torch.testing.assert_close(eager[b][1], script[b][1])
