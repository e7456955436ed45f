"""The experiment configuration: one YAML file, `--set key=value` overrides checked against field types.

Errors name where the offending key was given (the file and line, or the override) and are raised before any
training starts; a value that passes them does not fail later for being out of range.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
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
    amp: str = "none"  # mixed precision: none, bf16 (CPU or CUDA) or fp16 (CUDA, with loss scaling)
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


# n_best: training and export keep one best; shortlist: an artifact has one only if exported with one
# (`seq2seq export --shortlist`), which then turns it on.
_SearchFields = dataclasses.make_dataclass("_SearchFields",
                                           _fields_of(SearchOptions, leave_out=("n_best", "shortlist")))
_SearchFields.__module__ = __name__


@dataclass
class SearchConfig(_SearchFields):
    """SearchOptions' fields and defaults (seq2seq/translator.py) but n_best and shortlist (see above)."""

    valid_beam_size: int = 1  # the beam of validation during training

    def options(self, beam_size: int | None = None) -> SearchOptions:
        """These settings as the translator takes them (one best), with `beam_size` if given."""
        beam = self.beam_size if beam_size is None else beam_size
        return SearchOptions(beam, 1, self.max_len_a, self.max_len_b, self.length_penalty, self.stop)


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
        """Value checks beyond types, so that what training would fail on later is refused before it starts.

        The model's and the search's own checks run here, on a ModelConfig and SearchOptions built from these
        sections; every other numeric key has a range below (AT_LEAST or a check of its own). The types are
        checked earlier, when the config is built (`_coerce`: a float must be finite).
        """
        try:
            self.model_config(8, 8)
        except ValueError as exc:
            raise _named(exc, "model.") from None
        for key, beam in (("beam_size", self.search.beam_size), ("valid_beam_size", self.search.valid_beam_size)):
            try:
                self.search.options(beam).validate()
            except ValueError as exc:
                raise _named(exc, "search.", {"beam_size": key}) from None
        for key, least in AT_LEAST.items():
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if not value >= least:
                raise ConfigError(f"{key}: must be at least {least}, got {value!r}")
        t = self.train
        checks = [
            (self.vocab.type in ("unigram", "bpe"), "vocab.type: must be unigram or bpe"),
            (t.schedule in ("plateau", "inverse_sqrt", "constant"),
             "train.schedule: must be plateau, inverse_sqrt or constant"),
            (_is_device(t.device), f"train.device: not a device: {t.device!r} (cpu, cuda, cuda:1, ...)"),
            (t.amp in ("none", "bf16", "fp16"), f"train.amp: must be none, bf16 or fp16, got {t.amp!r}"),
            (t.amp != "fp16" or not _is_device(t.device) or torch.device(t.device).type == "cuda",
             "train.amp: fp16 needs train.device cuda; on a CPU use bf16"),
            (t.lr > 0, "train.lr: must be positive"),
            (all(0 <= b < 1 for b in t.betas), f"train.betas: each must be in [0, 1), got {list(t.betas)}"),
            (0 < t.plateau_factor <= 1, "train.plateau_factor: must be in (0, 1]"),
            (0 <= t.label_smoothing < 1, "train.label_smoothing: must be in [0, 1)"),
            (0 <= t.anneal < 1, "train.anneal: must be a fraction of the budget in [0, 1)"),
            (t.init in SCHEMES, f"train.init: must be one of {', '.join(SCHEMES)}"),
            (t.init_scale > 0, "train.init_scale: must be a positive number"),
            (not t.max_steps or t.reg_start_step + t.reg_ramp_steps <= t.max_steps,
             "train.reg_ramp_steps: the regularizer schedule (reg_start_step + reg_ramp_steps) ends after "
             "train.max_steps"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)


# The least value of each numeric key that has a plain lower bound (0 where 0 means "off" or "no limit"). The
# other numeric keys: `model.*` and `search.*` (their library's checks), lr, betas, plateau_factor,
# label_smoothing, anneal and init_scale (ranges of their own, in `validate`), forget_bias (any finite number).
AT_LEAST: dict[str, int] = {
    "data.max_len": 1, "data.max_ratio": 1, "vocab.size": 8,
    "train.seed": 0, "train.threads": 0, "train.max_tokens": 1, "train.weight_decay": 0, "train.warmup_steps": 0,
    "train.plateau_patience": 0, "train.min_lr": 0, "train.reg_start_step": 0, "train.reg_ramp_steps": 0,
    "train.clip_norm": 0, "train.max_steps": 0, "train.max_epochs": 0, "train.max_minutes": 0,
    "train.valid_every": 0, "train.save_every": 0, "train.patience": 0, "train.keep_best": 1,
    "train.log_every": 1, "train.max_nonfinite": 1,
}


def _is_device(name: str) -> bool:
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        return False
    return True


def _named(exc: ValueError, prefix: str, rename: dict[str, str] | None = None) -> ConfigError:
    """A library error ("field: message" or "a, b: message") as a config error naming the full YAML keys."""
    names, sep, message = str(exc).partition(":")
    if not sep:
        return ConfigError(f"{prefix.rstrip('.')}: {exc}")
    keys = [prefix + (rename or {}).get(name, name) for name in names.split(", ")]
    return ConfigError(", ".join(keys) + sep + message)


def _key_lines(text: str, path: str) -> dict[str, int]:
    """Line number (1-based) of every dotted key in a YAML mapping.

    :raises ConfigError: a key given twice in one mapping (YAML itself keeps the last one silently)
    """
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                line = key.start_mark.line + 1
                if name in lines:
                    raise ConfigError(f"{path}:{line}: {name}: duplicate key (first at line {lines[name]}); "
                                      f"only one of them would be used")
                lines[name] = line
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
        # YAML 1.1 reads "5e-4" (no dot) as a string. No key takes an infinity or NaN (.inf, nan): a learning
        # rate or length limit of inf passes every range check and fails, or trains to NaN, only later.
        number = None
        if not isinstance(value, bool) and isinstance(value, (int, float, str)):
            try:
                number = float(value)
            except (ValueError, OverflowError):
                pass
        if number is None:
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
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


def _parse_override(item: str, origin: str) -> tuple[str, Any]:
    """`key=value` as (dotted key, value parsed as YAML: a scalar, or a [list] or {mapping})."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not all(key.split(".")):
        raise ConfigError(f"{origin}: expected key=value with a dotted key, such as train.lr=5e-4")
    try:
        return key, yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML value ({getattr(exc, 'problem', None) or exc})") from None


def _set_dotted(tree: dict[str, Any], key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {part} is not a section")
    node[parts[-1]] = value


def _dotted_keys(value: Any, key: str) -> list[str]:
    """`key` and, when `value` is a mapping, every dotted key inside it."""
    keys = [key]
    if isinstance(value, dict):
        for name, inner in value.items():
            keys += _dotted_keys(inner, f"{key}.{name}")
    return keys


def load_config(path: str | None, overrides: Sequence[str] = (), origins: Sequence[str] | None = None
                ) -> ExperimentConfig:
    """Read a YAML experiment file and apply `key=value` overrides (values parsed as YAML).

    An error names where its key was given: `FILE:LINE` for a key of the file, the override (`origins[i]`,
    `--set KEY=VALUE` by default) for one given or replaced by an override, the file alone for a default.
    """
    tree: dict[str, Any] = {}
    given: dict[str, str] = {}  # dotted key -> where it was given
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            given = {key: f"{path}:{line}" for key, line in _key_lines(text, path).items()}
            tree = yaml.safe_load(text) or {}
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            raise ConfigError(f"{where}: invalid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    for i, item in enumerate(overrides):
        origin = origins[i] if origins is not None else f"--set {item}"
        key, value = _parse_override(item, origin)
        _set_dotted(tree, key, value, origin)
        for replaced in [k for k in given if k == key or k.startswith(key + ".")]:
            del given[replaced]
        given.update(dict.fromkeys(_dotted_keys(value, key), origin))
    try:
        cfg = _build(ExperimentConfig, tree)
        cfg.validate()
    except ConfigError as exc:
        keys = str(exc).split(":", 1)[0].split(", ")  # "a.b: ..." or "a.b, a.c: ..."
        where = next((given[key] for key in keys if key in given), path)
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None
    return cfg


def save_config(cfg: ExperimentConfig, path: str) -> None:
    from training.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
