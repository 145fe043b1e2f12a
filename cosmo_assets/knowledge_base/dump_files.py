"""A dump file read as one stream of decompressed bytes, through the fastest decoder installed.

gzip goes through ISA-L (`isal`, several times zlib's speed, decoding in its own thread); bzip2
through `indexed_bzip2`, which decodes blocks on every core. Without those packages the standard
library's gzip and bz2 read the same bytes, only slower (bz2 by an order of magnitude).
"""

from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path
from typing import IO


class DumpStream:
    """Decompressed bytes of a dump, and how far into the file on disk the reading has got."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("rb")
        self.stream, self.decoder = _decoder(path, self._file)

    def read(self, size: int) -> bytes:
        return self.stream.read(size)

    def readinto(self, buffer: memoryview) -> int:
        return self.stream.readinto(buffer)

    def compressed_position(self) -> int:
        try:
            return self._file.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        try:
            self.stream.close()
        finally:
            self._file.close()

    def __enter__(self) -> DumpStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_dump(path: Path) -> DumpStream:
    return DumpStream(path)


def _decoder(path: Path, file: IO[bytes]) -> tuple[IO[bytes], str]:
    if path.suffix == ".gz":
        try:
            from isal import igzip_threaded
        except ImportError:
            return gzip.open(file, "rb"), "gzip (standard library)"
        return igzip_threaded.open(file, "rb", threads=1), "isal"
    if path.suffix == ".bz2":
        try:
            import indexed_bzip2
        except ImportError:
            return bz2.open(file, "rb"), "bz2 (standard library)"
        return indexed_bzip2.open(file, parallelization=os.cpu_count() or 1), "indexed_bzip2"
    return file, "none"
