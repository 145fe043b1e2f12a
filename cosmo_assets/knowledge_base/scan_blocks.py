"""A decompressed dump cut into blocks of whole lines and scanned in dump order, in this process or by worker
processes that take each block from shared memory: the reading process decompresses straight into it, where a
pipe would copy every byte four times (pickle, write, read, unpickle) and cost as much as the scan.
"""

from __future__ import annotations

import multiprocessing
import sys
import types
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import shared_memory

from cosmo_assets.knowledge_base.dump_files import DumpStream
from cosmo_assets.knowledge_base.wikidata_scan import (
    BlockResult,
    BlockScanner,
    ScanPlan,
    scan_bytes,
    scan_shared,
    start_worker,
)

_NEWLINE_WINDOW = 1 << 16


def scan_dump(stream: DumpStream, plan: ScanPlan, workers: int, block_bytes: int) -> Iterator[tuple[BlockResult, int]]:
    """Block results in dump order, their lines numbered in the dump, with the JSON bytes of each block.
    Blocks are scanned from line 1: a block's place is known only once those before it are scanned."""
    if workers <= 1:
        scanner = BlockScanner(plan)
        results = ((scanner.scan(block, 1, end), end) for block, end in _blocks(stream, block_bytes))
    else:
        results = _scan_in_workers(stream, plan, workers, block_bytes)
    lines = 0
    for result, size in results:
        yield BlockScanner.shifted(result, lines), size
        lines += result.newlines


def _blocks(stream: DumpStream, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(data, where its whole lines end) over the decompressed dump, for a scan in this process. Only the
    partial line at the end of the data is copied, to start the next block."""
    carry = b""
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        data = carry + data if carry else data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data  # a line longer than a block: keep reading until it ends
            continue
        yield data, cut
        carry = data[cut:]
    if carry:
        yield carry, len(carry)


def _scan_in_workers(stream: DumpStream, plan: ScanPlan, workers: int, block_bytes: int) -> Iterator[tuple[BlockResult, int]]:
    """At most two blocks per worker in flight, each in a slot of one shared memory, plus the slot being filled:
    memory stays at (2 x workers + 1) blocks whatever the dump size."""
    slots = 2 * workers + 1
    memory = shared_memory.SharedMemory(create=True, size=slots * block_bytes)
    try:
        # Spawned, not forked: a Dagster step process has threads, and a fork copies their locks.
        context = multiprocessing.get_context("spawn")
        with _main_not_imported():
            pool = context.Pool(workers, initializer=start_worker, initargs=(plan, memory.name))
        with pool:
            reader = _SlotReader(stream, memory, block_bytes)
            pending: deque = deque()
            free = deque(range(slots))
            while True:
                while pending and (not free or len(pending) >= 2 * workers or pending[0][0].ready()):
                    future, size, slot = pending.popleft()
                    if slot is not None:
                        free.append(slot)
                    yield future.get(), size
                filled = reader.fill(free[0] * block_bytes)
                if filled is None:
                    break
                if isinstance(filled, bytes):  # a line longer than a slot
                    pending.append((pool.apply_async(scan_bytes, (filled, len(filled))), len(filled), None))
                else:
                    slot = free.popleft()
                    pending.append((pool.apply_async(scan_shared, (slot * block_bytes, filled)), filled, slot))
            while pending:
                future, size, _ = pending.popleft()
                yield future.get(), size
    finally:
        try:
            memory.close()
        except BufferError:  # a view of it still held by an exception's frames: freed with the process
            pass
        memory.unlink()


class _SlotReader:
    """Fills a slot of the shared memory with whole lines of the dump; the partial line at its end starts the next."""

    def __init__(self, stream: DumpStream, memory: shared_memory.SharedMemory, slot_bytes: int):
        self.stream, self.memory, self.slot_bytes = stream, memory, slot_bytes
        self.carry = b""

    def fill(self, offset: int) -> int | bytes | None:
        """The bytes of whole lines now in the slot at `offset`; or, for a line longer than a slot, the lines
        as bytes; None at the end of the dump."""
        carry = self.carry
        if len(carry) >= self.slot_bytes:
            return self._long_lines(carry)
        buf = self.memory.buf
        buf[offset:offset + len(carry)] = carry
        filled = len(carry) + self._read_into(offset + len(carry), offset + self.slot_bytes)
        if filled == 0:
            return None
        if filled < self.slot_bytes:  # the end of the dump: its last line needs no newline
            self.carry = b""
            return filled
        cut = self._after_last_newline(offset, offset + filled)
        if cut == 0:
            return self._long_lines(bytes(buf[offset:offset + filled]))
        self.carry = bytes(buf[offset + cut:offset + filled])
        return cut

    def _read_into(self, start: int, end: int) -> int:
        buf, read = self.memory.buf, 0
        while start + read < end:
            n = self.stream.readinto(buf[start + read:end])
            if not n:
                break
            read += n
        return read

    def _after_last_newline(self, start: int, end: int) -> int:
        """Where the slot's whole lines end, counted from `start`; 0 when it holds no newline."""
        buf, window = self.memory.buf, end
        while window > start:
            low = max(start, window - _NEWLINE_WINDOW)
            at = bytes(buf[low:window]).rfind(b"\n")
            if at >= 0:
                return low + at + 1 - start
            window = low
        return 0

    def _long_lines(self, data: bytes) -> bytes:
        """`data` and what follows it up to a newline, as bytes: lines that do not fit in a slot."""
        while True:
            more = self.stream.read(self.slot_bytes)
            if not more:
                self.carry = b""
                return data
            at = more.rfind(b"\n")
            data += more
            if at >= 0:
                cut = len(data) - len(more) + at + 1
                self.carry = data[cut:]
                return data[:cut]


@contextmanager
def _main_not_imported() -> Iterator[None]:
    """While workers start: a spawned worker imports the parent's __main__ (a Dagster command, a bench script:
    seconds of imports each) unless it cannot see one. Workers need only the scanner module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main
