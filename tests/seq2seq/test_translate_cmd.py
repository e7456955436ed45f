"""`seq2seq translate` (seq2seq/translate_cmd.py) on the shared artifact: line-for-line output, n-best, errors."""

import subprocess

from seq2seq.translator import SearchOptions, Translator
from tests.conftest import cli


def run_translate(artifact, data: bytes, *args: str) -> subprocess.CompletedProcess:
    return cli("translate", "-m", artifact, *args, input=data)


def test_translate_keeps_one_output_line_per_input_line_in_order(artifact):
    lines = ["Der hund spielt im park.", "", "Eine katze.", "   ", "Ein mann läuft auf der ball rot blau."] * 3
    out = run_translate(artifact, ("\n".join(lines) + "\n").encode(), "--beam", "2", "--chunk-lines", "4")
    assert out.returncode == 0, out.stderr.decode()
    got = out.stdout.decode().split("\n")[:-1]
    assert len(got) == len(lines)
    assert got[1] == "" and got[3] == ""
    assert got[0] == got[5] == got[10] and got[0] != ""
    # The same lines through the library path give the same output.
    translator = Translator.load(str(artifact))
    direct = translator.translate(lines[:5], SearchOptions(beam_size=2, max_len_a=translator.defaults.max_len_a,
                                                           max_len_b=translator.defaults.max_len_b))
    assert [t.text for t in direct] == got[:5]


def test_translate_n_best_with_scores_and_files(artifact, tmp_path):
    src = tmp_path / "in.de"
    src.write_text("Der hund spielt.\nDie frau sitzt.\n", encoding="utf-8")
    dst = tmp_path / "out.en"
    out = run_translate(artifact, b"", "-i", str(src), "-o", str(dst), "--beam", "3", "--n-best", "2", "--scores")
    assert out.returncode == 0, out.stderr.decode()
    rows = dst.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 2
    fields = rows[0].split("\t")
    assert len(fields) == 4 and float(fields[1]) >= float(fields[3])


def test_translate_reports_the_undecodable_line(artifact):
    out = run_translate(artifact, b"Der hund.\nDie katze.\n\xff\xfe kaputt\n")
    assert out.returncode == 2
    assert "<stdin>:3: not valid UTF-8" in out.stderr.decode()


def test_translate_refuses_bad_options_and_missing_models(artifact, tmp_path):
    out = run_translate(artifact, b"x\n", "--beam", "2", "--n-best", "3")
    assert out.returncode == 2 and "n_best" in out.stderr.decode()
    out = run_translate(tmp_path / "nope.pt", b"x\n")
    assert out.returncode == 2 and "nope.pt: no such model file" in out.stderr.decode()


def test_translate_takes_a_length_penalty(artifact):
    lines = b"Der hund spielt im park.\nEine katze.\n"
    plain = run_translate(artifact, lines, "--beam", "3", "--scores")
    favoured = run_translate(artifact, lines, "--beam", "3", "--scores", "--length-penalty", "0")
    assert plain.returncode == 0 and favoured.returncode == 0, favoured.stderr.decode()
    # scores are log-probability / length**alpha: with alpha 0 they are the raw sums, never above the normalized
    for a, b in zip(plain.stdout.decode().splitlines(), favoured.stdout.decode().splitlines()):
        assert float(b.split("\t")[1]) <= float(a.split("\t")[1]) + 1e-6
    bad = run_translate(artifact, lines, "--length-penalty", "-0.5")
    assert bad.returncode == 2 and "length_penalty" in bad.stderr.decode()
