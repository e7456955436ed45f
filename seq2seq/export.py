"""The one module that knows about TorchScript: export a model with its searches to a single file.

The artifact (docs/design.md §5) holds the scripted `Search` module and, as extra files, the SentencePiece models
and `meta.json` (model config, languages, training data, sacreBLEU score and signature when known).
Loading it needs torch and sentencepiece only.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import torch

from seq2seq.model import Seq2Seq
from seq2seq.search import Search

EXTRA_FILES = ("meta.json", "src.spm", "tgt.spm")
FORMAT_VERSION = 1


def script(model: Seq2Seq) -> torch.jit.ScriptModule:
    """Script the model with its greedy and beam search (eval mode)."""
    return torch.jit.script(Search(model).eval())


def save(model: Seq2Seq | torch.jit.ScriptModule, path: str, src_spm: bytes, tgt_spm: bytes,
         meta: dict[str, Any]) -> None:
    """Write the artifact atomically: a temporary file in the same folder, then a rename.

    :param model: a `Seq2Seq`, scripted here, or the module `script` returned (saved as it is, so the
        module a caller checked against the eager model is the one written)
    """
    scripted = model if isinstance(model, torch.jit.ScriptModule) else script(model)
    meta = {**meta, "format_version": FORMAT_VERSION}
    extra = {"meta.json": json.dumps(meta, indent=2, ensure_ascii=False), "src.spm": src_spm, "tgt.spm": tgt_spm}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".export-", suffix=".pt")
    os.close(fd)
    try:
        torch.jit.save(scripted, tmp, _extra_files=extra)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it owner-only; a model file is meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    meta = json.loads(extra["meta.json"])
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: artifact format {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    module.eval()
    return module, meta, bytes(extra["src.spm"]), bytes(extra["tgt.spm"])
