"""File storage behind a small interface; a local directory by default.

Another backend (object storage) implements the same methods and is chosen in
`get_storage()`.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import current_app


class LocalStorage:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError("storage key escapes the storage root")
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def prune(self, prefix: str, older_than: float) -> int:
        """Delete the files under `prefix` last written before `older_than` (a Unix time);
        how many went."""
        folder, gone = self._path(prefix), 0
        if not folder.is_dir():
            return 0
        for path in folder.rglob("*"):
            if path.is_file() and path.stat().st_mtime < older_than:
                path.unlink(missing_ok=True)
                gone += 1
        return gone


def get_storage() -> LocalStorage:
    return LocalStorage(current_app.config["UPLOAD_DIR"])
