"""Uploaded files: their names, where they are stored under the data directory, and the checks before they are read.

Shared by every front end through ``Assistant.upload`` (the API and the UI never handle upload files
themselves).

An upload has two names. Its *name* is the file name it was uploaded with (the base name, NFC-normalised):
what responses show, and what identifies it, so uploading the same name again replaces that document. Its
*stored name* is ``<content id>-<safe name>`` under ``<data dir>/uploads``: the first 12 hex digits of the
SHA-256 of its bytes and an ASCII form of its name, so two names never share a file unless their bytes and
safe names are the same.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from assistant.config import Settings
from assistant.errors import UnsupportedUpload, UploadFailed, UploadTooLarge
from ingest.loaders import SUPPORTED_SUFFIXES

_MB = 1024 * 1024
_MAX_NAME = 255  # characters in an upload's name (most file systems' limit)
_STORED = re.compile(r"[0-9a-f]{12}-.+")
PART_PREFIX = ".part-"  # files being received: hidden, so no folder ingest picks them up


@dataclass(frozen=True)
class ReceivedUpload:
    """An upload's bytes, stored in a temporary file of the upload folder until it is kept or dropped."""

    name: str  # the name it was uploaded with (base name, NFC)
    path: Path  # the temporary file (its suffix is the upload's, so loaders read it by type)
    digest: str  # SHA-256 of the bytes, hex
    size: int

    @property
    def stored_name(self) -> str:
        return stored_name(self.name, self.digest)


def upload_name(filename: str) -> str:
    """The name an upload is known by: its base name (no directories), NFC-normalised, control characters as
    spaces, without surrounding blanks."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(" " if unicodedata.category(c) == "Cc" else c for c in base)
    return unicodedata.normalize("NFC", base).strip()


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def safe_filename(name: str) -> str:
    """An ASCII file name safe to store: no directories, no leading dots, a bounded length, the extension kept.

    Accents are folded (``résumé.txt`` -> ``resume.txt``); a stem with nothing ASCII left becomes ``upload``
    (``报告.txt`` -> ``upload.txt``).
    """
    base = re.split(r"[\\/]", name or "")[-1]
    stem, suffix = os.path.splitext(base)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", _ascii(stem)).strip("._-")[:100] or "upload"
    suffix = re.sub(r"[^A-Za-z0-9]+", "", _ascii(suffix)).lower()[:16]
    return f"{stem}.{suffix}" if suffix else stem


def stored_name(name: str, digest: str) -> str:
    """``<first 12 hex digits of the content hash>-<safe name>``."""
    return f"{digest[:12]}-{safe_filename(name)}"


def is_stored_name(name: str) -> bool:
    """Whether a file name in the upload folder is one ``stored_name`` made."""
    return _STORED.fullmatch(name) is not None


def upload_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "uploads"


def check_upload_name(filename: str) -> str:
    """The upload's name, once its type is one the loaders read; raises UnsupportedUpload, UploadFailed."""
    name = upload_name(filename)
    if len(name) > _MAX_NAME:
        raise UploadFailed(f"the file name {name[:40]!r}… is {len(name)} characters long; the limit is {_MAX_NAME}")
    suffix = Path(safe_filename(name)).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = os.path.splitext(name)[1] or "(none)"
        raise UnsupportedUpload(
            f"{name!r}: unsupported file type {shown}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}"
        )
    return name


def receive_upload(
    settings: Settings, filename: str, stream: IO[bytes], *, max_mb: float | None = None
) -> ReceivedUpload:
    """Copy an upload into a temporary file of the upload folder, hashing it on the way.

    Raises UnsupportedUpload (before reading a byte), UploadTooLarge (nothing is left behind), UploadFailed.
    The caller keeps the file (``os.replace`` to its stored name) or removes it.
    """
    name = check_upload_name(filename)
    max_mb = settings.max_upload_mb if max_mb is None else max_mb
    limit = int(max_mb * _MB)
    folder = upload_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = Path(safe_filename(name)).suffix
    digest = hashlib.sha256()
    size = 0
    with tempfile.NamedTemporaryFile(
        dir=folder, prefix=f"{PART_PREFIX}{uuid.uuid4().hex[:8]}-", suffix=suffix, delete=False
    ) as tmp:
        try:
            while block := stream.read(_MB):
                size += len(block)
                if size > limit:
                    raise UploadTooLarge(f"{name!r} is over the upload limit of {max_mb:g} MB")
                digest.update(block)
                tmp.write(block)
        except BaseException:
            tmp.close()
            Path(tmp.name).unlink(missing_ok=True)
            raise
    return ReceivedUpload(name=name, path=Path(tmp.name), digest=digest.hexdigest(), size=size)


def keep_upload(received: ReceivedUpload, folder: Path) -> Path:
    """Move a received upload to its stored name (a file already there has the same bytes and is kept)."""
    target = folder / received.stored_name
    if target.exists():
        received.path.unlink(missing_ok=True)
    else:
        os.replace(received.path, target)
    return target


def sweep_uploads(folder: Path, referenced: set[str]) -> list[str]:
    """Remove what crashed writes left in the upload folder: stored files no document refers to, and partial
    files. Files the service did not name are left alone. Returns the removed names."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    for item in folder.iterdir():
        if not item.is_file():
            continue
        orphan = is_stored_name(item.name) and item.name not in referenced
        if orphan or item.name.startswith(PART_PREFIX):
            item.unlink(missing_ok=True)
            removed.append(item.name)
    return removed
