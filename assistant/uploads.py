"""Uploaded files: where they are stored under the data directory, and the checks before they are read.

Shared by every front end through ``Assistant.upload`` (the API and the UI never handle upload files
themselves).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import IO

from assistant.config import Settings
from assistant.errors import UnsupportedUpload, UploadTooLarge
from ingest.loaders import SUPPORTED_SUFFIXES

_MB = 1024 * 1024


def safe_filename(name: str) -> str:
    """A file name safe to store: no directories, no leading dots, a bounded length."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    stem = stem[:100] or "upload"
    return f"{stem}.{suffix.lower()}" if suffix else stem


def upload_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "uploads"


def store_upload(settings: Settings, filename: str, stream: IO[bytes], *, max_mb: float | None = None) -> Path:
    """Copy an upload to ``<data_dir>/uploads/<safe name>``; raises UnsupportedUpload, UploadTooLarge."""
    name = safe_filename(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UnsupportedUpload(
            f"{filename!r}: unsupported file type {suffix or '(none)'}; "
            f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    max_mb = settings.max_upload_mb if max_mb is None else max_mb
    limit = int(max_mb * _MB)
    folder = upload_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    size = 0
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", delete=False) as tmp:
        try:
            while block := stream.read(_MB):
                size += len(block)
                if size > limit:
                    raise UploadTooLarge(f"{filename!r} is over the upload limit of {max_mb:g} MB")
                tmp.write(block)
        except BaseException:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)
            raise
    target = folder / name
    Path(tmp.name).replace(target)
    return target
