"""The experiment configuration: one YAML file, `--set key=value` overrides checked against field types.

Errors name the file and line of the offending key, and are raised before any training starts.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from seq2seq.config import ModelConfig, Regularizers
from seq2seq.init import SCHEMES
from seq2seq.translator import SearchOptions


class ConfigError(ValueError):
    pass


@dataclass
class DataConfig:
    path: str = "data/multi30k"
    src: str = "de"
    tgt: str = "en"
    train_split: str = "train"
    valid_split: str = "val"
    test_split: str = "test_2016_flickr"
    max_len: int = 100
    max_ratio: float = 3.0


@dataclass
class VocabConfig:
    size: int = 8000
    type: str = "unigram"
    joint: bool = True


def _fields_of(source: type, leave_out: tuple[str, ...] = (), retype: dict[str, tuple[Any, Any]] | None = None) -> list:
    """`source`'s fields with their types and defaults, as `dataclasses.make_dataclass` takes them, so that a
    config section keeps each default where the library declares it; `retype` gives (type, field) by name."""
    hints, retype = typing.get_type_hints(source), retype or {}
    specs = []
    for f in dataclasses.fields(source):
        if f.name in leave_out:
            continue
        if f.name in retype:
            specs.append((f.name, *retype[f.name]))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], field(default_factory=f.default_factory)))
        else:
            specs.append((f.name, hints[f.name], field(default=f.default)))
    return specs


# The `model:` section: every ModelConfig field with its default, less the vocabulary sizes and special ids,
# which come from the trained SentencePiece models. The regularizers are mappings in YAML (ModelConfig also
# takes None for "all off").
ModelSection = dataclasses.make_dataclass(
    "ModelSection",
    _fields_of(
        ModelConfig,
        leave_out=("src_vocab", "tgt_vocab", "pad_id", "bos_id", "eos_id"),
        retype={
            "enc_reg": (Regularizers, field(default_factory=Regularizers)),
            "dec_reg": (Regularizers, field(default_factory=Regularizers)),
        },
    ),
    namespace={"__doc__": "ModelConfig without the vocabulary sizes and special ids (seq2seq/config.py)."},
)
ModelSection.__module__ = __name__


@dataclass
class OptimConfig:
    seed: int = 1
    device: str = "cpu"
    threads: int = 0
    max_tokens: int = 4096
    lr: float = 0.001
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    schedule: str = "plateau"
    warmup_steps: int = 0
    plateau_factor: float = 0.5
    plateau_patience: int = 1
    min_lr: float = 1e-5
    anneal: float = 0.0
    label_smoothing: float = 0.1
    init: str = "torch"
    init_scale: float = 0.1
    forget_bias: float = 0.0
    reg_start_step: int = 0
    reg_ramp_steps: int = 0
    clip_norm: float = 1.0
    max_steps: int = 0
    max_epochs: int = 0
    max_minutes: float = 0.0
    valid_every: int = 0
    save_every: int = 200
    patience: int = 0
    keep_best: int = 3
    log_every: int = 20
    max_nonfinite: int = 20

    def reg_scale(self, step: int) -> float:
        """The fraction of the recurrent regularizers' rates in effect at update `step` (1-based): none before
        `reg_start_step`, then a linear ramp over `reg_ramp_steps` updates."""
        if not self.reg_start_step and not self.reg_ramp_steps:
            return 1.0
        if not self.reg_ramp_steps:
            return 1.0 if step > self.reg_start_step else 0.0
        return min(max(step - self.reg_start_step, 0) / self.reg_ramp_steps, 1.0)


RECURRENT_RATES = ("rnndrop", "variational", "weight_drop", "recurrent_dropout", "zoneout_c", "zoneout_h")


def scaled_recurrent(reg: Regularizers, scale: float) -> Regularizers:
    """`reg` with the variants acting inside the recurrence, (b)-(f), scaled by `scale`; (a) unchanged."""
    return dataclasses.replace(reg, **{name: getattr(reg, name) * scale for name in RECURRENT_RATES})


_SearchFields = dataclasses.make_dataclass("_SearchFields", _fields_of(SearchOptions, leave_out=("n_best",)))
_SearchFields.__module__ = __name__


@dataclass
class SearchConfig(_SearchFields):
    """SearchOptions' fields and defaults (seq2seq/translator.py) but n_best: training and export keep one best."""

    valid_beam_size: int = 1  # the beam of validation during training

    def options(self, beam_size: int | None = None) -> SearchOptions:
        """These settings as the translator takes them (one best), with `beam_size` if given."""
        beam = self.beam_size if beam_size is None else beam_size
        return SearchOptions(beam, 1, self.max_len_a, self.max_len_b, self.length_penalty)


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    model: ModelSection = field(default_factory=ModelSection)
    train: OptimConfig = field(default_factory=OptimConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def model_config(self, src_vocab: int, tgt_vocab: int, step: int | None = None) -> ModelConfig:
        """The network; with `step`, its recurrent regularizers at the rates the schedule gives that update."""
        cfg = ModelConfig(src_vocab=src_vocab, tgt_vocab=tgt_vocab, **asdict(self.model))
        if step is not None:
            scale = self.train.reg_scale(step)
            cfg.enc_reg, cfg.dec_reg = scaled_recurrent(cfg.enc_reg, scale), scaled_recurrent(cfg.dec_reg, scale)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Value checks beyond types. The model's and the search's own checks run here, on a ModelConfig and
        SearchOptions built from these sections, so that what they refuse is refused before training starts."""
        try:
            self.model_config(8, 8)
        except ValueError as exc:
            raise _named(exc, "model.") from None
        for key, beam in (("beam_size", self.search.beam_size), ("valid_beam_size", self.search.valid_beam_size)):
            try:
                self.search.options(beam).validate()
            except ValueError as exc:
                raise _named(exc, "search.", {"beam_size": key}) from None
        checks = [
            (self.vocab.type in ("unigram", "bpe"), "vocab.type: must be unigram or bpe"),
            (self.vocab.size >= 8, "vocab.size: must be at least 8"),
            (self.train.schedule in ("plateau", "inverse_sqrt", "constant"),
             "train.schedule: must be plateau, inverse_sqrt or constant"),
            (self.train.lr > 0, "train.lr: must be positive"),
            (0 <= self.train.label_smoothing < 1, "train.label_smoothing: must be in [0, 1)"),
            (0 <= self.train.anneal < 1, "train.anneal: must be a fraction of the budget in [0, 1)"),
            (self.train.init in SCHEMES, f"train.init: must be one of {', '.join(SCHEMES)}"),
            (0 < self.train.init_scale < float("inf"), "train.init_scale: must be a positive number"),
            (math.isfinite(self.train.forget_bias), "train.forget_bias: must be a finite number"),
            (self.train.reg_start_step >= 0, "train.reg_start_step: must be >= 0"),
            (self.train.reg_ramp_steps >= 0, "train.reg_ramp_steps: must be >= 0"),
            (not self.train.max_steps or self.train.reg_start_step + self.train.reg_ramp_steps <= self.train.max_steps,
             "train.reg_ramp_steps: the regularizer schedule (reg_start_step + reg_ramp_steps) ends after "
             "train.max_steps"),
            (self.train.max_tokens >= 1, "train.max_tokens: must be positive"),
            (self.train.keep_best >= 1, "train.keep_best: must be at least 1"),
            (self.data.max_len >= 1 and self.data.max_ratio >= 1, "data.max_len, data.max_ratio: must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


def _named(exc: ValueError, prefix: str, rename: dict[str, str] | None = None) -> ConfigError:
    """A library error ("field: message" or "a, b: message") as a config error naming the full YAML keys."""
    names, sep, message = str(exc).partition(":")
    if not sep:
        return ConfigError(f"{prefix.rstrip('.')}: {exc}")
    keys = [prefix + (rename or {}).get(name, name) for name in names.split(", ")]
    return ConfigError(", ".join(keys) + sep + message)


def _key_lines(text: str) -> dict[str, int]:
    """Line number (1-based) of every dotted key in a YAML mapping."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                lines[name] = key.start_mark.line + 1
                walk(value, name + ".")

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check (and gently convert) a value against a dataclass field type."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _build(tp, value, where + ".")
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(typing.get_args(tp)):
            raise ConfigError(f"{where}: expected a list of {len(typing.get_args(tp))} numbers, got {value!r}")
        return tuple(_coerce(v, t, where) for v, t in zip(value, typing.get_args(tp)))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover


def _build(cls: type, values: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key; known keys: {', '.join(sorted(known))}")
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as exc:  # a check of the class itself (Regularizers' rates)
        raise _named(exc, prefix) from None


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
    node[parts[-1]] = value


def load_config(path: str | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Read a YAML experiment file and apply `key=value` overrides (values parsed as YAML scalars)."""
    tree: dict[str, Any] = {}
    lines: dict[str, int] = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            tree = yaml.safe_load(text) or {}
            lines = _key_lines(text)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            raise ConfigError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected key=value")
        key, raw = item.split("=", 1)
        _set_dotted(tree, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    try:
        cfg = _build(ExperimentConfig, tree)
        cfg.validate()
    except ConfigError as exc:
        keys = str(exc).split(":", 1)[0].split(", ")  # "a.b: ..." or "a.b, a.c: ..."
        line = next((lines[key] for key in keys if key in lines), None)
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        raise ConfigError(f"{where}{exc}") from None
    return cfg


def save_config(cfg: ExperimentConfig, path: str) -> None:
    from training.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
