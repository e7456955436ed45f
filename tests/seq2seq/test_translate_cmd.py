"""`seq2seq translate` (seq2seq/translate_cmd.py) on the shared artifact: line-for-line output, n-best, errors; an
output file is replaced only on success, and never the input."""

import io
import os
import subprocess
import sys

import pytest

from seq2seq.cli import main
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
    assert bad.returncode == 2 and "argument --length-penalty" in bad.stderr.decode()


def translate_here(artifact, *args: object) -> int:
    """`seq2seq translate -m ARTIFACT ARGS --quiet` in this process (stderr for capsys): fast error paths."""
    return main(["translate", "-m", str(artifact), *map(str, args), "--quiet"])


def test_translate_refuses_an_output_that_is_its_input(artifact, tmp_path, capsys, monkeypatch):
    text = "Der hund spielt.\nDie frau sitzt.\n"
    src = tmp_path / "f.txt"
    src.write_text(text, encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(src)
    os.link(src, tmp_path / "hard.txt")
    for output in (src, tmp_path / "link.txt", tmp_path / "hard.txt"):
        assert translate_here(artifact, "-i", src, "-o", output) == 2
        assert f"--output {output}: is the input ({src})" in capsys.readouterr().err
    with open(src, "rb") as stdin:  # seq2seq translate -o f.txt < f.txt
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stdin))
        assert translate_here(artifact, "-o", src) == 2
    assert f"--output {src}: is the input (<stdin>)" in capsys.readouterr().err
    assert src.read_text(encoding="utf-8") == text
    assert sorted(os.listdir(tmp_path)) == ["f.txt", "hard.txt", "link.txt"]


def test_a_failed_translation_keeps_the_old_output(artifact, tmp_path, capsys):
    src, dst = tmp_path / "in.de", tmp_path / "out.en"
    src.write_bytes(b"Der hund.\nDie frau.\nEin kind.\n\xff kaputt\n")
    dst.write_text("the old translation\n", encoding="utf-8")
    # one line a chunk: three lines are translated (and were written) before line 4 fails
    assert translate_here(artifact, "-i", src, "-o", dst, "--chunk-lines", 1) == 2
    assert f"{src}:4: not valid UTF-8" in capsys.readouterr().err
    assert dst.read_text(encoding="utf-8") == "the old translation\n"
    assert sorted(os.listdir(tmp_path)) == ["in.de", "out.en"]  # no temporary file left beside it
    src.write_bytes(b"Der hund.\nDie frau.\n")
    assert translate_here(artifact, "-i", src, "-o", dst, "--chunk-lines", 1) == 0
    assert len(dst.read_text(encoding="utf-8").splitlines()) == 2
    assert sorted(os.listdir(tmp_path)) == ["in.de", "out.en"]


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--beam", "0", "must be a positive integer, got '0'"),
        ("--n-best", "0", "must be a positive integer, got '0'"),
        ("--max-tokens", "-5", "must be a positive integer, got '-5'"),
        ("--chunk-lines", "0", "must be a positive integer, got '0'"),
        ("--length-penalty", "nan", "must be a finite number >= 0, got 'nan'"),
    ],
)
def test_translate_refuses_out_of_range_numbers_naming_the_option(artifact, tmp_path, capsys, option, value, message):
    dst = tmp_path / "out.en"
    with pytest.raises(SystemExit) as exited:
        translate_here(artifact, "-o", dst, option, value)
    assert exited.value.code == 2
    assert f"argument {option}: {message}" in capsys.readouterr().err
    assert not dst.exists()


def test_an_output_that_cannot_be_written_is_named_before_the_model_loads(tmp_path, capsys):
    src = tmp_path / "in.de"
    src.write_text("Der hund.\n", encoding="utf-8")
    missing = tmp_path / "no such model.pt"  # never reached: the output is checked first
    for output, message in ((tmp_path, "is a folder"), (tmp_path / "none" / "out.en", "no such folder")):
        assert translate_here(missing, "-i", src, "-o", output) == 2
        assert f"--output {output}: {message}" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["in.de"]


def test_plot_attention_saves_one_heatmap_per_translated_line(artifact, tmp_path):
    from PIL import Image  # matplotlib's own dependency

    plots = tmp_path / "plots"
    out = run_translate(artifact, b"Der hund spielt im park.\n\nEine katze.\n", "--beam", "2",
                        "--plot-attention", str(plots))
    assert out.returncode == 0, out.stderr.decode()
    assert sorted(os.listdir(plots)) == ["line-000001.png", "line-000003.png"]  # the empty line has none
    for name in os.listdir(plots):
        with Image.open(plots / name) as im:
            assert im.format == "PNG" and im.width > 100 and im.height > 100
    (tmp_path / "file").write_text("x")
    out = run_translate(artifact, b"x\n", "--plot-attention", str(tmp_path / "file"))
    assert out.returncode == 2 and "is not a folder" in out.stderr.decode()


def test_plot_attention_labels_the_axes_with_the_pieces(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seq2seq.attention_plot import plot_attention

    seen = {}
    real = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        ax = fig.axes[0]
        seen["x"] = [t.get_text() for t in ax.get_xticklabels()]
        seen["y"] = [t.get_text() for t in ax.get_yticklabels()]
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    plot_attention(["▁Ein", "▁Hund", "</s>"], ["▁A", "▁dog", "</s>"],
                   [[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.0, 0.1, 0.9]], str(tmp_path / "a.png"))
    assert seen == {"x": ["▁Ein", "▁Hund", "</s>"], "y": ["▁A", "▁dog", "</s>"]}
    assert (tmp_path / "a.png").stat().st_size > 0
    with pytest.raises(ValueError, match="3 x 3"):
        plot_attention(["a", "b", "c"], ["x", "y", "z"], [[1.0]], str(tmp_path / "b.png"))
