"""The model's configuration: one typed dataclass, validated at construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

CELLS = ("rnn", "lstm", "gru")
ATTENTIONS = ("dot", "general", "concat")
BRIDGES = ("linear", "zeros")


def check_rate(name: str, rate: object) -> None:
    """A dropout-like rate: a number (not a bool or a string) in [0, 1); NaN is refused too."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{name}: a rate must be a number in [0, 1), got {rate!r}")


@dataclass
class Regularizers:
    """The six recurrent dropout variants of docs/design.md §2; every rate defaults to 0 (off).

    :param dropout: (a) non-recurrent dropout between layers (Zaremba et al. 2014), new mask every step.
    :param rnndrop: (b) dropout on the LSTM cell state, one mask per sequence (Moon et al. 2015).
    :param variational: (c) dropout on x_t and h_{t-1} inside the recurrence, one mask per sequence
        (Gal & Ghahramani 2016).
    :param weight_drop: (d) DropConnect on the entries of W_hh, one mask per forward pass
        (Merity et al. 2017).
    :param recurrent_dropout: (e) dropout on the candidate before it enters the state
        (Semeniuta et al. 2016).
    :param zoneout_c: (f) zoneout on the LSTM cell state (Krueger et al. 2017).
    :param zoneout_h: (f) zoneout on the hidden state.
    """

    dropout: float = 0.0
    rnndrop: float = 0.0
    variational: float = 0.0
    weight_drop: float = 0.0
    recurrent_dropout: float = 0.0
    zoneout_c: float = 0.0
    zoneout_h: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            check_rate(f.name, getattr(self, f.name))

    @classmethod
    def from_dict(cls, values: dict, where: str) -> Regularizers:
        """Build from a mapping (a checkpoint's or a config file's); an unknown key is named with the known ones.

        :param where: the argument the mapping was given as, the prefix of messages (``enc_reg``, ``dec_reg``)
        """
        known = [f.name for f in fields(cls)]
        for key in values:
            if key not in known:
                raise ValueError(f"{where}.{key}: unknown key; known keys: {', '.join(known)}")
        try:
            return cls(**values)
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None

    def validate(self, cell: str) -> None:
        """Every rate in [0, 1) (again: a dataclass can be changed after construction), and none acting on a
        cell state that `cell` lacks."""
        for f in fields(self):
            check_rate(f.name, getattr(self, f.name))
        if cell != "lstm":
            for name in ("rnndrop", "zoneout_c"):
                if getattr(self, name) > 0:
                    raise ValueError(f"{name}: applies to the LSTM cell state; cell {cell!r} has none")
        if cell == "rnn" and self.recurrent_dropout > 0:  # the tanh RNN has no candidate apart from its state
            raise ValueError("recurrent_dropout: applies to LSTM and GRU candidates, not to the tanh RNN")

    @property
    def needs_custom_loop(self) -> bool:
        """True when an active option acts inside the recurrence, where fused kernels cannot go."""
        return any(
            r > 0
            for r in (
                self.rnndrop,
                self.variational,
                self.weight_drop,
                self.recurrent_dropout,
                self.zoneout_c,
                self.zoneout_h,
            )
        )


@dataclass
class ModelConfig:
    """Every hyperparameter of the network. Checkpoints store `asdict(config)`."""

    src_vocab: int
    tgt_vocab: int
    cell: str = "lstm"
    emb_dim: int = 256
    enc_hidden: int = 256  # per direction
    enc_layers: int = 2
    dec_hidden: int = 512
    dec_layers: int = 2
    attention: str = "dot"
    input_feeding: bool = True
    bridge: str = "linear"
    tie_embeddings: bool = False
    emb_dropout: float = 0.0
    out_dropout: float = 0.0
    enc_reg: Regularizers | None = None
    dec_reg: Regularizers | None = None
    pad_id: int = 0
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self) -> None:
        if isinstance(self.enc_reg, dict):
            self.enc_reg = Regularizers.from_dict(self.enc_reg, "enc_reg")
        if isinstance(self.dec_reg, dict):
            self.dec_reg = Regularizers.from_dict(self.dec_reg, "dec_reg")
        self.enc_reg = self.enc_reg or Regularizers()
        self.dec_reg = self.dec_reg or Regularizers()
        if self.cell not in CELLS:
            raise ValueError(f"cell: unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if self.attention not in ATTENTIONS:
            raise ValueError(
                f"attention: unknown score {self.attention!r}; choose one of {', '.join(ATTENTIONS)}"
            )
        if self.bridge not in BRIDGES:
            raise ValueError(f"bridge: unknown bridge {self.bridge!r}; choose one of {', '.join(BRIDGES)}")
        for name in ("src_vocab", "tgt_vocab", "emb_dim", "enc_hidden", "enc_layers", "dec_hidden", "dec_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        for name in ("emb_dropout", "out_dropout"):
            check_rate(name, getattr(self, name))
        for name in ("pad_id", "bos_id", "eos_id"):
            value = getattr(self, name)
            if not 0 <= value < min(self.src_vocab, self.tgt_vocab):
                raise ValueError(f"{name}: {value} is outside the vocabulary")
        if self.tie_embeddings and self.emb_dim != self.dec_hidden:
            raise ValueError(
                f"tie_embeddings: needs emb_dim == dec_hidden, got {self.emb_dim} and {self.dec_hidden}"
            )
        for name in ("enc_reg", "dec_reg"):
            try:
                getattr(self, name).validate(self.cell)
            except ValueError as exc:
                raise ValueError(f"{name}.{exc}") from None

    def to_dict(self) -> dict:
        return asdict(self)
