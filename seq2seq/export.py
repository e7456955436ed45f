"""The one module that knows about TorchScript: export a model with its searches to a single file.

The artifact (docs/design.md §5) holds the scripted `Search` module and, as extra files, the SentencePiece models
and `meta.json` (model config, languages, training data, sacreBLEU score and signature when known).
Loading it needs torch and sentencepiece only.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

import torch

from seq2seq.atomic import atomic_path
from seq2seq.model import Seq2Seq
from seq2seq.search import Search

EXTRA_FILES = ("meta.json", "src.spm", "tgt.spm")
# 2: the search takes stop, with_attention and shortlist, and may hold a lexical table or int8 weights.
# 3: the search also decodes step by step (`start`, `join`, `step`, `select`: continuous batching).
# Format 1 and 2 artifacts still load; `Translator` calls them with the arguments they know, and the service
# batches their sentences a whole batch at a time.
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)


def script(model: Seq2Seq | Search, lexicon: tuple[torch.Tensor, torch.Tensor] | None = None,
           int8: bool = False) -> torch.jit.ScriptModule:
    """Script the model with its greedy and beam search (eval mode); with a lexical table for the shortlist,
    and with int8 weights, if asked (`Search`).

    :param model: a `Seq2Seq`, or a `Search` built with its options, scripted as it is: its int8 weights are
        the ones it was built with, not quantized a second time, so the module scripted decodes what the
        eager one a caller checked it against decodes
    """
    if isinstance(model, Search):
        if lexicon is not None or int8:
            raise ValueError("script: a Search has its lexicon and int8 weights already; pass the Seq2Seq instead")
        return torch.jit.script(model.eval())
    return torch.jit.script(Search(model, lexicon=lexicon, int8=int8).eval())


def save(model: Seq2Seq | torch.jit.ScriptModule, path: str, src_spm: bytes, tgt_spm: bytes,
         meta: dict[str, Any]) -> None:
    """Write the artifact atomically (seq2seq/atomic.py): a temporary file in the same folder, then a rename.

    :param model: a `Seq2Seq`, scripted here, or the module `script` returned (saved as it is, so the
        module a caller checked against the eager model is the one written)
    """
    scripted = model if isinstance(model, torch.jit.ScriptModule) else script(model)
    meta = {**meta, "format_version": FORMAT_VERSION}
    extra = {"meta.json": json.dumps(meta, indent=2, ensure_ascii=False), "src.spm": src_spm, "tgt.spm": tgt_spm}
    with atomic_path(path) as tmp:
        torch.jit.save(scripted, tmp, _extra_files=extra)


def load(path: str, device: str = "cpu") -> tuple[torch.jit.ScriptModule, dict[str, Any], bytes, bytes]:
    """Load an artifact: (scripted search module, meta, source spm bytes, target spm bytes)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such model file")
    extra: dict[str, Any] = {name: "" for name in EXTRA_FILES}
    try:
        module = torch.jit.load(path, map_location=device, _extra_files=extra)
    except Exception as exc:
        raise ValueError(f"{path}: not a TorchScript model artifact ({str(exc).splitlines()[0]})") from None
    if not extra["meta.json"] or not extra["src.spm"] or not extra["tgt.spm"]:
        raise ValueError(f"{path}: TorchScript file without the artifact's meta.json and SentencePiece models")
    meta = _parse_meta(path, extra["meta.json"])
    module.eval()
    return module, meta, bytes(extra["src.spm"]), bytes(extra["tgt.spm"])


def read_meta(path: str) -> dict[str, Any]:
    """An artifact's meta.json read without loading its TorchScript: `torch.jit.save` writes a zip whose extra
    files lie under `<archive>/extra/`. For checks made before anything loads, such as a server's pairs before it
    starts its worker processes; `load` still checks everything else.

    :raises ValueError: naming `path`, for a file that is not a zip with a meta.json holding a JSON object of a
        readable format
    """
    try:
        with zipfile.ZipFile(path) as archive:
            extra = {n.split("/", 2)[2]: n for n in archive.namelist() if n.count("/") == 2 and "/extra/" in n}
            raw = archive.read(extra["meta.json"]) if all(name in extra for name in EXTRA_FILES) else None
    except Exception as exc:  # noqa: BLE001  (not a zip, truncated, encrypted, …: as `load` refuses it)
        raise ValueError(f"{path}: not a TorchScript model artifact ({str(exc).splitlines()[0]})") from None
    if raw is None:
        raise ValueError(f"{path}: TorchScript file without the artifact's meta.json and SentencePiece models")
    return _parse_meta(path, raw)


def _parse_meta(path: str, raw: bytes | str) -> dict[str, Any]:
    """meta.json's text as a dict of a readable format. :raises ValueError: naming `path` and what is wrong"""
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: meta.json: not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: meta.json: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format_version") not in READABLE_FORMATS:
        raise ValueError(f"{path}: artifact format {meta.get('format_version')!r}, expected one of "
                         f"{', '.join(map(str, READABLE_FORMATS))}")
    return meta
