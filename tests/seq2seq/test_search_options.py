"""The options that make a search cheaper (no attention history, shortlist, int8, fairseq's stopping rule):
each keeps the search's invariants (beam 1 = greedy, a batch = its sentences one by one, scripted = eager), and
each gives the plain search's result where it should."""

import json

import pytest
import sentencepiece as spm
import torch
from torch import nn

import seq2seq.search as search_module
from seq2seq import export
from seq2seq.search import Search
from seq2seq.translator import SearchOptions, Translator
from tests.conftest import random_batch, tiny_model


def trim(tokens: torch.Tensor, length: torch.Tensor) -> list[int]:
    return tokens[: int(length)].tolist()


def whole_vocabulary(model) -> tuple[torch.Tensor, torch.Tensor]:
    """A lexical table whose every row holds every target id: a shortlist that removes nothing."""
    return torch.arange(model.tgt_vocab).repeat(model.src_vocab, 1), torch.arange(4, 8)


def small_lexicon(model, seed: int = 0, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, model.tgt_vocab, (model.src_vocab, k), generator=g), torch.arange(4, 6)


@pytest.mark.parametrize("beam", [1, 4])
def test_without_attention_history_the_result_is_the_same(beam):
    search = Search(tiny_model(seed=1))
    src, lens = random_batch(B=6, S=7, seed=1)
    with torch.no_grad():
        tokens, scores, lengths, attn = search(src, lens, beam, 1)
        t2, s2, l2, a2 = search(src, lens, beam, 1, with_attention=False)
    assert torch.equal(tokens, t2) and torch.equal(lengths, l2)
    torch.testing.assert_close(scores, s2)
    assert attn.size(2) > 0 and a2.size(2) == 0 and a2.shape[:2] == attn.shape[:2]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("beam", [1, 4])
def test_a_shortlist_of_the_whole_vocabulary_changes_nothing(cell, beam):
    model = tiny_model(seed=2, cell=cell)
    src, lens = random_batch(B=6, S=7, seed=2)
    with torch.no_grad():
        plain = Search(model)(src, lens, beam, 1)
        listed = Search(model, lexicon=whole_vocabulary(model))(src, lens, beam, 1, shortlist=True)
    assert torch.equal(plain[0], listed[0]) and torch.equal(plain[2], listed[2])
    torch.testing.assert_close(plain[1], listed[1])
    torch.testing.assert_close(plain[3], listed[3])


def test_the_shortlist_keeps_greedy_output_that_lies_inside_it():
    """A greedy step's argmax does not change when the softmax runs over a subset holding it; so a shortlist
    holding every piece of the whole-vocabulary translation gives that translation, whatever else it drops."""
    model = tiny_model(seed=3)
    src, lens = random_batch(B=5, S=6, seed=3)
    with torch.no_grad():
        tokens, _, lengths, _ = Search(model).greedy(src, lens)
        rows: dict[int, set[int]] = {}  # source id -> the target ids of every translation it occurs in
        for b in range(5):
            for i in src[b, : lens[b]].tolist():
                rows.setdefault(i, set()).update(trim(tokens[b, 0], lengths[b, 0]))
        k = max(len(r) for r in rows.values())
        table = torch.full((model.src_vocab, k), 3, dtype=torch.long)  # EOS only, but for the batch's ids
        for i, row in rows.items():
            table[i, : len(row)] = torch.tensor(sorted(row), dtype=torch.long)
        listed = Search(model, lexicon=(table, torch.zeros(0, dtype=torch.long)))
        t2, _, l2, _ = listed.greedy(src, lens, shortlist=True)
    for b in range(5):  # the precondition: each sentence's shortlist holds its translation, and not everything
        allowed = set(table[src[b, : lens[b]]].flatten().tolist())
        assert set(trim(tokens[b, 0], lengths[b, 0])) <= allowed and len(allowed) < model.tgt_vocab - 3
    assert torch.equal(tokens, t2) and torch.equal(lengths, l2)


@pytest.mark.parametrize("beam", [1, 3])
def test_with_a_shortlist_a_batch_equals_its_sentences_one_by_one(beam):
    """Each sentence is scored over its own shortlist, not the batch's union: its neighbours change nothing."""
    model = tiny_model(seed=4)
    search = Search(model, lexicon=small_lexicon(model))
    src, lens = random_batch(B=6, S=7, seed=4)
    with torch.no_grad():
        tokens, scores, lengths, _ = search(src, lens, beam, 1, shortlist=True)
        for b in range(6):
            t1, s1, l1, _ = search(src[b : b + 1, : lens[b]], lens[b : b + 1], beam, 1, shortlist=True)
            assert trim(t1[0, 0], l1[0, 0]) == trim(tokens[b, 0], lengths[b, 0])
            assert abs(float(s1[0, 0]) - float(scores[b, 0])) < 1e-5


def test_shortlisted_output_stays_inside_the_sentences_shortlist():
    model = tiny_model(seed=5)
    table, frequent = small_lexicon(model, seed=5, k=2)
    src, lens = random_batch(B=4, S=6, seed=5)
    with torch.no_grad():
        tokens, _, lengths, _ = Search(model, lexicon=(table, frequent))(src, lens, 3, 3, shortlist=True)
    for b in range(4):
        allowed = set(table[src[b, : lens[b]]].flatten().tolist()) | set(frequent.tolist())
        for n in range(3):
            assert set(trim(tokens[b, n], lengths[b, n])) <= allowed


def test_a_shortlist_asked_of_a_model_without_a_lexical_table_is_refused():
    src, lens = random_batch(B=2, S=5, seed=6)
    with pytest.raises(ValueError, match="shortlist"):
        Search(tiny_model())(src, lens, 2, 1, shortlist=True)
    with pytest.raises(ValueError, match="stop"):
        Search(tiny_model())(src, lens, 2, 1, stop="first")


def test_fairseqs_stopping_rule_waits_for_beam_size_hypotheses():
    """stop="beam" ends a sentence once beam_size hypotheses have ended, not when its best candidate ends: it
    files beam_size (no n-best slot is empty), and on some sentences it finds another best than the default
    rule. Beam 1 still equals greedy."""
    differ = 0
    for seed in range(6):
        search = Search(tiny_model(seed=seed))
        src, lens = random_batch(B=6, S=7, seed=seed)
        with torch.no_grad():
            best_rule = search(src, lens, 4, 1)
            beam_rule = search(src, lens, 4, 1, stop="beam")
            _, all_four, _, _ = search(src, lens, 4, 4, stop="beam")
            g, b1 = search.greedy(src, lens), search(src, lens, 1, 1, stop="beam")
        assert torch.all(torch.isfinite(all_four))
        assert torch.equal(g[0], b1[0])
        differ += int((best_rule[1] != beam_rule[1]).any(1).sum())
    assert differ > 0


def dense(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    layer = nn.Linear(weight.size(1), weight.size(0), bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("feeding", [True, False])
def test_the_int8_step_in_float_equals_the_decoder_step(cell, feeding, monkeypatch):
    """With float layers where int8 ones would go, the int8 path's step is the decoder's step: what is left
    between int8 and float is the quantization alone."""
    monkeypatch.setattr(search_module, "_int8", dense)
    model = tiny_model(seed=8, cell=cell, input_feeding=feeding)
    src, lens = random_batch(B=6, S=7, seed=8)
    with torch.no_grad():
        plain = Search(model)(src, lens, 4, 2)
        path = Search(model, int8=True)(src, lens, 4, 2)
    assert torch.equal(plain[0], path[0])
    torch.testing.assert_close(plain[1], path[1])
    torch.testing.assert_close(plain[3], path[3])


def test_int8_scores_stay_close_to_float():
    model = tiny_model(seed=9)
    src, lens = random_batch(B=6, S=7, seed=9)
    with torch.no_grad():
        _, plain, _, _ = Search(model).greedy(src, lens)
        _, int8, _, _ = Search(model, int8=True).greedy(src, lens)
    assert torch.all((int8 - plain).abs() < 0.05) and not torch.equal(int8, plain)


@pytest.mark.parametrize("shortlist", [False, True])
def test_int8_keeps_no_float_copy_of_what_it_quantized_and_leaves_the_model_alone(tmp_path, shortlist):
    """The float decoder matrices the int8 step replaces are dropped from the search (so from the artifact),
    but not from the model it was built from; the output layer's float weight stays only for a shortlist.
    The saved int8 module is smaller than the float one, and still decodes as before it was saved."""
    model = tiny_model(seed=12, src_vocab=400, tgt_vocab=400, emb_dim=16, enc_hidden=16, dec_hidden=96)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lexicon = small_lexicon(model, seed=12, k=4) if shortlist else None
    plain, int8 = Search(model, lexicon=lexicon), Search(model, lexicon=lexicon, int8=True)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    dec = int8.model.decoder
    assert all(layer.weight_ih.numel() == 0 and layer.weight_hh.numel() == 0 for layer in dec.layers)
    assert dec.concat.weight.numel() == 0
    assert (dec.out.weight.numel() > 0) == shortlist
    sizes = {}
    for name, search in (("float", plain), ("int8", int8)):
        torch.jit.save(torch.jit.script(search.eval()), str(tmp_path / name))
        sizes[name] = (tmp_path / name).stat().st_size
    assert sizes["int8"] < sizes["float"]
    loaded = torch.jit.load(str(tmp_path / "int8"))
    src, lens = random_batch(B=4, S=7, seed=12, vocab=400)
    with torch.no_grad():
        for beam in (1, 3):
            a, b = int8(src, lens, beam, 1, shortlist=shortlist), loaded(src, lens, beam, 1, shortlist=shortlist)
            for x, y in zip(a, b):
                torch.testing.assert_close(x, y)


@pytest.mark.parametrize("beam", [1, 3])
def test_scripted_equals_eager_with_every_option_on(beam):
    model = tiny_model(seed=10)
    eager = Search(model, lexicon=small_lexicon(model, seed=10, k=4), int8=True).eval()
    scripted = torch.jit.script(eager)
    src, lens = random_batch(B=5, S=7, seed=10)
    args = (src, lens, beam, 1, 1.5, 10, 1.0, "beam", False, True)
    with torch.no_grad():
        a, b = eager(*args), scripted(*args)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        torch.testing.assert_close(x, y)


class Format1(nn.Module):
    """An artifact of format 1: its search takes the first seven arguments only."""

    def __init__(self, model):
        super().__init__()
        self.search = Search(model)

    def forward(self, src: torch.Tensor, src_lens: torch.Tensor, beam_size: int = 5, n_best: int = 1,
                max_len_a: float = 1.5, max_len_b: int = 10, length_penalty: float = 1.0):
        return self.search(src, src_lens, beam_size, n_best, max_len_a, max_len_b, length_penalty)


def test_a_format_1_artifact_still_translates_and_refuses_the_newer_options(tmp_path, spm_bytes):
    vocab = spm.SentencePieceProcessor(model_proto=spm_bytes).get_piece_size()
    model = tiny_model(seed=11, src_vocab=vocab, tgt_vocab=vocab)
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    meta = {"src_lang": "de", "tgt_lang": "en", "format_version": 1}
    torch.jit.save(torch.jit.script(Format1(model).eval()), str(old),
                   _extra_files={"meta.json": json.dumps(meta), "src.spm": spm_bytes, "tgt.spm": spm_bytes})
    export.save(model, str(new), spm_bytes, spm_bytes, {"src_lang": "de", "tgt_lang": "en"})
    before, after = Translator.load(str(old)), Translator.load(str(new))
    assert before.format_version == 1 and after.format_version == export.FORMAT_VERSION
    lines = ["der hund läuft", "die frau sieht den ball"]
    for with_alignment in (False, True):
        got = before.translate(lines, with_alignment=with_alignment)
        want = after.translate(lines, with_alignment=with_alignment)
        assert [t.text for t in got] == [t.text for t in want]
        assert [t.hypotheses[0].alignment for t in got] == [t.hypotheses[0].alignment for t in want]
    with pytest.raises(ValueError, match="stop: this model's artifact \\(format 1\\)"):
        before.translate(lines, SearchOptions(stop="beam"))
    with pytest.raises(ValueError, match="shortlist: this model has no lexical table"):
        before.translate(lines, SearchOptions(shortlist=True))
