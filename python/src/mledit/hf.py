"""A version of a repository as a transformers model: `mledit export --format safetensors` into
a cache folder keyed by the commit id (`$MLEDIT_CACHE/hf-exports/<id>`, default
`~/.cache/mledit`), then `AutoModelForCausalLM.from_pretrained` on it.

transformers is imported only when a model is loaded; `export_folder` needs nothing but the binary.
A commit never changes, so a complete cached folder is reused as it is.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Union

from .repository import Repository

_COMPLETE = ("config.json", "model.safetensors")


def _repository(repo: Union[Repository, str, "os.PathLike[str]"]) -> Repository:
    return repo if isinstance(repo, Repository) else Repository(repo)


def cache_root(repo: Repository) -> Path:
    """`$MLEDIT_CACHE/hf-exports` as the repository's runs see MLEDIT_CACHE."""
    cache = repo.runner.environment.get("MLEDIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "mledit")
    return Path(cache) / "hf-exports"


def export_folder(repo: Union[Repository, str, "os.PathLike[str]"], rev: str = "HEAD", *, dtype: str | None = None) -> Path:
    """The Hugging Face folder of version `rev`, exported on first use.

    The export is written next to its final place and renamed into it, so an interrupted export
    never leaves a folder that looks complete.

    Raises:
        MLEditError: `rev` names no commit, or the export fails.
    """
    repository = _repository(repo)
    commit = repository.resolve(rev)
    root = cache_root(repository)
    name = commit if dtype is None else f"{commit}-{dtype}"
    folder = root / name
    if all((folder / file).is_file() for file in _COMPLETE):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name[:12]}-", dir=root))
    try:
        output = staging / "export"
        repository.export(output, format="safetensors", at=commit, dtype=dtype)
        if folder.exists():  # an incomplete folder left by an older writer
            shutil.rmtree(folder)
        try:
            output.rename(folder)
        except OSError:
            if not all((folder / file).is_file() for file in _COMPLETE):  # another process won the race
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load(repo: Union[Repository, str, "os.PathLike[str]"], rev: str = "HEAD", *, dtype: str | None = None,
         **from_pretrained: Any):
    """Version `rev` of `repo` as `transformers.AutoModelForCausalLM`; keyword arguments go to
    `from_pretrained`.

    Raises:
        ImportError: transformers is not installed.
        MLEditError: the export fails.
    """
    folder = export_folder(repo, rev, dtype=dtype)
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(folder), **from_pretrained)


def load_tokenizer(repo: Union[Repository, str, "os.PathLike[str]"], rev: str = "HEAD", **from_pretrained: Any):
    """The tokenizer exported with version `rev`, as `transformers.AutoTokenizer`."""
    folder = export_folder(repo, rev)
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(folder), **from_pretrained)
