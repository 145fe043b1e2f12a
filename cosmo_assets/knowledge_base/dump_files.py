"""A dump file read as one stream of decompressed bytes, through the fastest decoder installed.

gzip goes through ISA-L (`isal`, several times zlib's speed, decoding in a thread of its own up to
READ_AHEAD_BLOCKS blocks ahead); bzip2 through `indexed_bzip2`, which decodes blocks on every core.
Without those packages the standard library's gzip and bz2 read the same bytes, only slower (bz2 by an
order of magnitude).
"""

from __future__ import annotations

import bz2
import gzip
import io
import os
import queue
import threading
from pathlib import Path
from typing import IO

READ_AHEAD_BYTES = 4 << 20
READ_AHEAD_BLOCKS = 16  # 64 MB: the reader's pauses (a Parquet batch written, results taken) no longer stall the decoder


class DumpError(Exception):
    """A dump whose compressed stream cannot be read to its end."""


class DumpStream:
    """Decompressed bytes of a dump, and how far into the file on disk the reading has got."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("rb")
        self.stream, self.decoder = _decoder(path, self._file)

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except (EOFError, OSError, ValueError) as exc:
            raise self._broken(exc) from exc

    def readinto(self, buffer: memoryview) -> int:
        try:
            return self.stream.readinto(buffer)
        except (EOFError, OSError, ValueError) as exc:
            raise self._broken(exc) from exc

    def _broken(self, exc: BaseException) -> DumpError:
        return DumpError(f"{self.path}: cannot be read past byte {self.compressed_position():,} of "
                         f"{self.path.stat().st_size:,} ({self.decoder}): {exc}. The file is cut short or damaged; "
                         "download it again (nothing was written from it)")

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
            from isal import igzip
        except ImportError:
            return gzip.open(file, "rb"), "gzip (standard library)"
        return io.BufferedReader(_ReadAhead(igzip.IGzipFile(fileobj=file, mode="rb"))), "isal"
    if path.suffix == ".bz2":
        try:
            import indexed_bzip2
        except ImportError:
            return bz2.open(file, "rb"), "bz2 (standard library)"
        return indexed_bzip2.open(file, parallelization=os.cpu_count() or 1), "indexed_bzip2"
    return file, "none"


class _ReadAhead(io.RawIOBase):
    """A decoder run in a thread of its own (ISA-L lets go of the GIL while it inflates), up to
    READ_AHEAD_BLOCKS blocks of decompressed bytes ahead of the reader. isal's own threaded reader keeps
    2 MB ahead, so every pause of the reader stopped the decoder: a fifth of a scan's time on two cores.
    An error of the decoder (a truncated or corrupt file) is raised by the read that reaches it."""

    def __init__(self, source: IO[bytes]):
        self.source = source
        self.blocks: queue.Queue = queue.Queue(READ_AHEAD_BLOCKS)
        self.chunk = memoryview(b"")
        self.ended = False
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._decode, name="dump-decoder", daemon=True)
        self.thread.start()

    def _decode(self) -> None:
        try:
            while not self.stopping.is_set():
                data = self.source.read(READ_AHEAD_BYTES)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader
            self.error = exc
            self._put(b"")

    def _put(self, data: bytes) -> None:
        while not self.stopping.is_set():
            try:
                self.blocks.put(data, timeout=0.1)
                return
            except queue.Full:
                pass

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.chunk:
            if self.ended:
                return 0
            data = self.blocks.get()
            if not data:
                self.ended = True
                if self.error is not None:
                    raise self.error
                return 0
            self.chunk = memoryview(data)
        size = min(len(buffer), len(self.chunk))
        buffer[:size] = self.chunk[:size]
        self.chunk = self.chunk[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self.stopping.set()
            self.thread.join()
            self.source.close()
        super().close()
