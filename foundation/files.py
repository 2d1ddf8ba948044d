"""What identifies a file's bytes, shared by the ingest (a delivery's id)
and the publication (the published file's record): its sha256, and a stat
stamp that changes whenever the file may have (size, inode, mtime, ctime),
so an unchanged file need not be read again to be recognised."""

from __future__ import annotations

import hashlib
from pathlib import Path

# bytes read at a time when a file is hashed or copied
READ_CHUNK_BYTES = 4 * 2**20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def stat_stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "inode": st.st_ino, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}
