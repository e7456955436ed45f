"""Text in, text out over an exported artifact: the one translation path of the CLI and the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from seq2seq import export
from seq2seq.search import STOPS
from seq2seq.tokenizer import EOS_ID, PAD_ID, Tokenizer


@dataclass
class Hypothesis:
    text: str
    score: float  # sum of log-probabilities / length ** length_penalty
    tokens: list[str]  # target subword pieces
    # attention weights, (len(tokens) + 1) rows (the EOS step included) × source ids (EOS included)
    alignment: list[list[float]] | None = None


@dataclass
class Translation:
    source_tokens: list[str]
    hypotheses: list[Hypothesis] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.hypotheses[0].text if self.hypotheses else ""


@dataclass(frozen=True)
class SearchOptions:
    beam_size: int = 5
    n_best: int = 1
    max_len_a: float = 1.5
    max_len_b: int = 10
    length_penalty: float = 1.0
    stop: str = "best"  # a sentence ends when its best candidate ends ("best") or beam_size have ("beam")
    shortlist: bool = False  # restrict the output layer to the artifact's lexical shortlist

    def validate(self) -> None:
        if self.stop not in STOPS:
            raise ValueError(f"stop: must be one of {', '.join(STOPS)}, got {self.stop!r}")
        if not isinstance(self.shortlist, bool):
            raise ValueError(f"shortlist: must be true or false, got {self.shortlist!r}")
        if not isinstance(self.beam_size, int) or self.beam_size < 1:
            raise ValueError(f"beam_size: must be a positive integer, got {self.beam_size!r}")
        if not isinstance(self.n_best, int) or not 1 <= self.n_best <= self.beam_size:
            raise ValueError(f"n_best: must be between 1 and beam_size ({self.beam_size}), got {self.n_best!r}")
        if self.max_len_a < 0 or self.max_len_b < 1:
            raise ValueError("max_len_a, max_len_b: need a >= 0 and b >= 1")
        if not 0.0 <= self.length_penalty < float("inf"):
            raise ValueError(f"length_penalty: must be a finite number >= 0, got {self.length_penalty!r}")


def _meta_entry(meta: Mapping[str, Any], key: str, default: Any, kind: type, what: str) -> Any:
    """`meta[key]` (or `default`) if it is a `kind` (a bool is no int); else a ValueError naming the entry."""
    value = meta.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"meta.json: {key}: expected {what}, got {value!r:.60}")
    return value


def language_pair(meta: Mapping[str, Any]) -> tuple[str, str]:
    """(source, target) language codes of an artifact's meta.json, as the artifact spells them.

    :raises ValueError: naming the entry, when one is not a string
    """
    return (_meta_entry(meta, "src_lang", "src", str, "a language code"),
            _meta_entry(meta, "tgt_lang", "tgt", str, "a language code"))


class Translator:
    """Holds a loaded artifact. Thread-compatible: call `translate_ids` or `advance` from one thread at a time."""

    def __init__(self, module: Any, meta: dict[str, Any], src_tok: Tokenizer, tgt_tok: Tokenizer, device: str = "cpu"):
        self.module, self.meta, self.src_tok, self.tgt_tok = module, meta, src_tok, tgt_tok
        self.device = torch.device(device)
        # meta.json's entries are checked here, where they are used: an error names the entry (and, through
        # `load`, the artifact), never a bare TypeError from deep inside a translation
        self.src_lang, self.tgt_lang = language_pair(meta)
        self.max_src_tokens: int = _meta_entry(meta, "max_src_tokens", 250, int, "an integer >= 2")
        if self.max_src_tokens < 2:  # room for one subword and EOS
            raise ValueError(f"meta.json: max_src_tokens: expected an integer >= 2, got {self.max_src_tokens!r}")
        # Format 1 artifacts know the first seven arguments of the search only (seq2seq/export.py).
        self.format_version: int = _meta_entry(meta, "format_version", export.FORMAT_VERSION, int, "an integer")
        self.has_shortlist: bool = bool(getattr(module, "has_shortlist", False))
        if meta.get("int8") and self.device.type != "cpu":
            raise ValueError(f"int8: this model's int8 weights run on the CPU only, not on {device}")
        search = _meta_entry(meta, "search", {}, dict, "a JSON object of search options")
        try:
            self.defaults = SearchOptions(**search)
            self.defaults.validate()
            self.check_options(self.defaults)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"meta.json: search: bad search defaults ({exc})") from None

    @classmethod
    def from_model(cls, model: Any, src_tok: Tokenizer, tgt_tok: Tokenizer, meta: dict[str, Any]) -> Translator:
        """An eager translator over an in-memory `Seq2Seq` (evaluation during and after training)."""
        from seq2seq.search import Search

        device = str(next(model.parameters()).device)
        return cls(Search(model).eval(), meta, src_tok, tgt_tok, device)

    @classmethod
    def load(cls, path: str, device: str = "cpu") -> Translator:
        module, meta, src_spm, tgt_spm = export.load(path, device)
        src_tok = Tokenizer(src_spm, name=f"{path}:src.spm")
        tgt_tok = src_tok if tgt_spm == src_spm else Tokenizer(tgt_spm, name=f"{path}:tgt.spm")
        try:
            return cls(module, meta, src_tok, tgt_tok, device)
        except ValueError as exc:
            if str(exc).startswith("meta.json:"):
                raise ValueError(f"{path}: {exc}") from None
            raise

    def encode(self, line: str, cut: bool = True) -> list[int]:
        """Source ids with EOS; a line longer than the model accepts is cut to fit, or with cut=False refused.

        :raises ValueError: cut=False and the line has max_src_tokens subwords or more
        """
        ids = self.src_tok.encode(line)
        if not cut and len(ids) >= self.max_src_tokens:
            raise ValueError(f"a sentence is longer than the model accepts ({self.max_src_tokens - 1} subwords)")
        return ids[: self.max_src_tokens - 1] + [EOS_ID]

    @torch.inference_mode()
    def translate_ids(
        self, batch: list[list[int]], opts: SearchOptions, with_alignment: bool = False
    ) -> list[list[Hypothesis]]:
        """Decode one batch of encoded sources together (any order; padding does not change results)."""
        opts.validate()
        self.check_options(opts)
        if not batch:
            return []
        src, lens = pad_batch(batch)
        args: tuple[Any, ...] = (opts.beam_size, opts.n_best, float(opts.max_len_a), opts.max_len_b,
                                 float(opts.length_penalty))
        if self.format_version >= 2:
            args += (opts.stop, with_alignment, opts.shortlist)
        result = self._call(self.module, src.to(self.device), lens.to(self.device), *args)
        return self._hypotheses(result, [len(ids) for ids in batch], with_alignment)

    # --- step by step (continuous batching, docs/design.md §6): sentences join a running decoding between steps.
    # A decoding is the artifact's own value (seq2seq/decoding.py, `Search.advance`), used up by the call it is
    # passed to.

    @property
    def can_step(self) -> bool:
        """Whether the artifact decodes step by step (format 3 and later)."""
        return self.format_version >= 3 and hasattr(self.module, "advance")

    @torch.inference_mode()
    def advance(self, running: Any | None, keep: list[int] | None, batch: list[list[int]], opts: SearchOptions,
                with_alignment: bool, ids: list[int]) -> tuple[Any | None, list[tuple[int, list[Hypothesis]]]]:
        """`select` (the sentences named `keep`, unless None), `start` `batch` (named `ids`) and `join`, then
        `step`: in one call into the artifact, which continuous batching makes once per step."""
        if not self.can_step:
            raise ValueError(f"this model's artifact (format {self.format_version}) does not decode step by step; "
                             "export it again")
        keep_at = None
        if running is not None and keep is not None:
            wanted = set(keep)
            keep_at = torch.tensor([i for i, name in enumerate(running.ids.tolist()) if name in wanted],
                                   dtype=torch.long)
            if not len(keep_at):
                running, keep_at = None, None
        src = lens = names = None
        if batch:
            opts.validate()
            self.check_options(opts)
            src, lens = pad_batch(batch)
            src, lens, names = src.to(self.device), lens.to(self.device), torch.tensor(ids, dtype=torch.long)
        running, ended, src_lens, result = self._call(
            self.module.advance, running, keep_at, src, lens, names, opts.beam_size, opts.n_best,
            float(opts.max_len_a), opts.max_len_b, float(opts.length_penalty), opts.stop, with_alignment,
            opts.shortlist)
        hyps = self._hypotheses(result, src_lens.tolist(), with_alignment)
        return running, list(zip(ended.tolist(), hyps, strict=True))

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except torch.jit.Error as exc:  # the artifact's ValueError arrives wrapped in TorchScript's traceback
            message = script_value_error(exc)
            if message is None:
                raise
            raise ValueError(message) from None

    def _hypotheses(self, result: tuple[torch.Tensor, ...], src_lens: list[int],
                    with_alignment: bool) -> list[list[Hypothesis]]:
        """The search's tensors (`Search.forward`'s layout) as hypotheses, sentence by sentence."""
        tokens, scores, lengths, attn = result
        tokens, scores, lengths = tokens.cpu().tolist(), scores.cpu().tolist(), lengths.cpu().tolist()
        out: list[list[Hypothesis]] = []
        for b in range(len(tokens)):
            hyps = []
            for n in range(len(tokens[b])):
                if scores[b][n] == float("-inf"):
                    continue  # fewer finished hypotheses than asked for
                ids = tokens[b][n][: lengths[b][n]]
                alignment = None
                if with_alignment:
                    alignment = attn[b, n, : len(ids) + 1, : src_lens[b]].cpu().tolist()
                hyps.append(
                    Hypothesis(self.tgt_tok.decode(ids), scores[b][n], self.tgt_tok.id_to_piece(ids), alignment)
                )
            out.append(hyps)
        return out

    def check_options(self, opts: SearchOptions) -> None:
        """Refuse an option this artifact cannot apply, naming it.

        :raises ValueError: a shortlist asked of an artifact without a lexical table, or an option a format 1
            artifact does not know
        """
        if opts.shortlist and not self.has_shortlist:
            raise ValueError("shortlist: this model has no lexical table (export it with --shortlist)")
        if self.format_version < 2 and opts.stop != "best":
            raise ValueError(f"stop: this model's artifact (format {self.format_version}) only stops at the best "
                             "hypothesis; export it again for stop='beam'")

    def translate(
        self, lines: list[str], opts: SearchOptions | None = None, max_tokens: int = 4096, with_alignment: bool = False
    ) -> list[Translation]:
        """Translate lines in token-budget batches sorted by length; results in input order.

        A line that is empty (or only whitespace) translates to an empty line without decoding.
        """
        opts = opts or self.defaults
        encoded = [self.encode(line) if line.strip() else [] for line in lines]
        results = [Translation(self.src_tok.id_to_piece(ids[:-1]) + ["</s>"] if ids else []) for ids in encoded]
        order = sorted((i for i, ids in enumerate(encoded) if ids), key=lambda i: len(encoded[i]))
        for chunk in cut_batches(order, [len(ids) for ids in encoded], max_tokens):
            hyps = self.translate_ids([encoded[i] for i in chunk], opts, with_alignment)
            for i, h in zip(chunk, hyps):
                results[i].hypotheses = h
        return results


def script_value_error(exc: Exception) -> str | None:
    """The message of the ValueError a TorchScript module raised, from the `torch.jit.Error` that carries it
    (its last line reads ``builtins.ValueError: <message>``); None when it was another error."""
    marker = "builtins.ValueError: "
    text = str(exc)
    at = text.rfind(marker)
    return text[at + len(marker) :].strip() if at >= 0 else None


def cut_batches(order: list[int], lengths: Sequence[int] | Mapping[int, int], max_tokens: int) -> list[list[int]]:
    """Cut indices (already sorted by length) into batches of at most max_tokens padded tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if = max(longest, lengths[i])
        if current and longest_if * (len(current) + 1) > max_tokens:
            batches.append(current)
            current, longest_if = [], lengths[i]
        current.append(i)
        longest = longest_if
    if current:
        batches.append(current)
    return batches


def pad_batch(seqs: list[list[int]], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id sequences: ids (B, T) long, T the longest length; lens (B,) long."""
    lens = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    ids = torch.full((len(seqs), int(lens.max()) if seqs else 0), pad_id, dtype=torch.long)
    for b, seq in enumerate(seqs):
        ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids, lens
