"""A decompressed dump cut into blocks of whole lines and scanned in dump order, in this process or by worker
processes that read each block from a shared mapping of one file in memory (/dev/shm where there is one): the
reading process decompresses straight into it, where a pipe would copy every byte four times (pickle, write,
read, unpickle) and cost as much as the scan, and workers scan it where it lies.

Workers get their blocks in turn, each over its own pipe, and answer in the order they got them, so the
results come back in dump order without a pool's helper threads (multiprocessing.Pool's worker handler
wakes on every result waiting to be read: a second of CPU per 2 GB of dump on two cores). While they start,
the reading process scans the first blocks itself.
"""

from __future__ import annotations

import itertools
import mmap
import multiprocessing
import os
import sys
import tempfile
import types
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cosmo_assets.knowledge_base.dump_files import DumpStream
from cosmo_assets.knowledge_base.wikidata_scan import (
    BlockResult,
    BlockScanner,
    ScanPlan,
    WorkerFailed,
    label_order,
    serve_blocks,
)

_NEWLINE_WINDOW = 1 << 16


def scan_dump(stream: DumpStream, plan: ScanPlan, workers: int, block_bytes: int, labels: Path) -> Iterator[tuple[BlockResult, int]]:
    """Block results in dump order, their lines numbered in the dump, with the JSON bytes of each block.
    Blocks are scanned from line 1: a block's place is known only once those before it are scanned. The label
    rows of every item are written to files in the folder `labels` (label_files), not yielded."""
    labels.mkdir(parents=True, exist_ok=True)
    with open(labels / "main.tsv", "ab") as own:
        if workers <= 1:
            scanner = BlockScanner(plan)
            results = ((scanner.scan(block, 1, end, label_order=label_order(number)), end)
                       for number, (block, end) in enumerate(_blocks(stream, block_bytes)))
        else:
            results = _scan_in_workers(stream, plan, workers, block_bytes, labels)
        lines = 0
        for result, size in results:
            own.writelines(result.labels)  # the rows of blocks scanned in this process
            result.labels = []
            yield BlockScanner.shifted(result, lines), size
            lines += result.newlines


def label_files(labels: Path) -> list[Path]:
    """The label rows' files in `labels`: "id<TAB>order<TAB>labels as JSON" per line, no quoting (JSON text
    holds no raw tab or newline)."""
    return sorted(labels.glob("*.tsv"))


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


def _scan_in_workers(stream: DumpStream, plan: ScanPlan, workers: int, block_bytes: int, labels: Path) -> Iterator[tuple[BlockResult, int]]:
    """At most two blocks per worker in flight, each in a slot of the shared block file, plus the slot being
    filled: memory stays at (2 x workers + 1) blocks whatever the dump size."""
    slots = 2 * workers + 1
    fd, blocks_file = tempfile.mkstemp(prefix="cosmo-wikidata-scan-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        os.ftruncate(fd, slots * block_bytes)
        memory = mmap.mmap(fd, slots * block_bytes)
    finally:
        os.close(fd)
    try:
        team = _Workers(plan, blocks_file, workers, labels)
    except BaseException:
        os.unlink(blocks_file)
        memory.close()
        raise
    reader = _SlotReader(stream, memoryview(memory), block_bytes)
    numbers = itertools.count()  # blocks in dump order
    try:
        try:
            yield from _scan_while_starting(team, reader, memory, plan, numbers)
        finally:
            os.unlink(blocks_file)  # every worker has mapped it (or the dump ended first): the memory goes with the last mapping
        pending: deque = deque()  # (worker, JSON bytes, slot) in dump order
        free = deque(range(slots))

        def collect(every: bool) -> Iterator[tuple[BlockResult, int]]:
            """Results in dump order: those ready, or while no slot is free or every worker has two blocks;
            with `every`, all."""
            while pending and (every or not free or len(pending) >= 2 * workers or team.ready(pending[0][0])):
                worker, size, slot = pending.popleft()
                result = team.result(worker)
                if slot is not None:
                    free.append(slot)
                yield result, size

        turn = 0
        while True:
            yield from collect(every=False)
            filled = reader.fill(free[0] * block_bytes)
            if filled is None:
                break
            if isinstance(filled, bytes):  # a line longer than a slot: sent once every worker is idle, as a
                yield from collect(every=True)  # big send to a worker busy sending its own result would wait for each other
                team.send(turn, (next(numbers), filled))
                pending.append((turn, len(filled), None))
            else:
                slot = free.popleft()
                team.send(turn, (next(numbers), (slot * block_bytes, filled)))
                pending.append((turn, filled, slot))
            turn = (turn + 1) % workers
        yield from collect(every=True)
    finally:
        team.close()
        reader.buf.release()
        try:
            memory.close()
        except BufferError:  # a view of it still held by an exception's frames: freed with the process
            pass


def _scan_while_starting(team: _Workers, reader: _SlotReader, memory: mmap.mmap, plan: ScanPlan,
                         numbers: Iterator[int]) -> Iterator[tuple[BlockResult, int]]:
    """The first blocks, scanned in this process (in the first slot) until every worker has started: a
    worker's start (a new interpreter and its imports) takes a few tenths of a second, a tenth of a 2 GB scan.
    A worker that starts after the dump ended finds no block file and stops."""
    scanner = BlockScanner(plan)
    while not team.started():
        filled = reader.fill(0)
        if filled is None:
            return  # the whole dump is scanned: the workers are told to stop, wherever their start has got
        if isinstance(filled, bytes):
            yield scanner.scan(filled, 1, label_order=label_order(next(numbers))), len(filled)
        else:
            yield scanner.scan(memory, 1, filled, label_order=label_order(next(numbers))), filled


class _Workers:
    """Worker processes, each with its own pipe: blocks go to them in turn and each answers in order."""

    def __init__(self, plan: ScanPlan, blocks_file: str, workers: int, labels: Path):
        # Spawned, not forked: a Dagster step process has threads, and a fork copies their locks.
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes, self.waiting = [], [], set(range(workers))
        try:
            with _main_not_imported():
                for worker in range(workers):
                    ours, theirs = context.Pipe()
                    process = context.Process(target=serve_blocks, daemon=True,
                                              args=(plan, blocks_file, str(labels / f"worker-{worker}.tsv"), theirs),
                                              name="wikidata-scan")
                    process.start()
                    theirs.close()
                    self.pipes.append(ours)
                    self.processes.append(process)
        except BaseException:
            self.close()
            raise

    def started(self) -> bool:
        """Whether every worker has said "ready" (the block file is mapped), without waiting."""
        for worker in [w for w in self.waiting if self.ready(w)]:
            self.result(worker)
            self.waiting.discard(worker)
        return not self.waiting

    def send(self, worker: int, task: tuple[int, tuple[int, int] | bytes]) -> None:
        try:
            self.pipes[worker].send(task)
        except OSError:
            raise self._died(worker) from None

    def ready(self, worker: int) -> bool:
        return self.pipes[worker].poll()

    def result(self, worker: int) -> BlockResult:
        try:
            result = self.pipes[worker].recv()
        except (EOFError, OSError):
            raise self._died(worker) from None
        if isinstance(result, WorkerFailed):
            raise RuntimeError(f"a Wikidata scan worker failed:\n{result}")
        return result

    def _died(self, worker: int) -> RuntimeError:
        process = self.processes[worker]
        process.join(5)
        return RuntimeError(f"a Wikidata scan worker (pid {process.pid}) died with exit code {process.exitcode} "
                            "before answering; the extract was not written")

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass  # that worker is gone already
            pipe.close()
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()


class _SlotReader:
    """Fills a slot of the shared block file with whole lines of the dump; the partial line at its end starts the next."""

    def __init__(self, stream: DumpStream, buf: memoryview, slot_bytes: int):
        self.stream, self.buf, self.slot_bytes = stream, buf, slot_bytes
        self.carry = b""

    def fill(self, offset: int) -> int | bytes | None:
        """The bytes of whole lines now in the slot at `offset`; or, for a line longer than a slot, the lines
        as bytes; None at the end of the dump."""
        carry = self.carry
        if len(carry) >= self.slot_bytes:
            return self._long_lines(carry)
        buf = self.buf
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
        buf, read = self.buf, 0
        while start + read < end:
            n = self.stream.readinto(buf[start + read:end])
            if not n:
                break
            read += n
        return read

    def _after_last_newline(self, start: int, end: int) -> int:
        """Where the slot's whole lines end, counted from `start`; 0 when it holds no newline."""
        buf, window = self.buf, end
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
