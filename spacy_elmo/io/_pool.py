"""A tiny ordered process pool for parsing text blocks.

Number parsing (`numpy.fromstring`, Python's `float`) holds the GIL, so
threads do not help. `multiprocessing` would re-import the parent's
`__main__` in each child (for `python -m spacy ...` that is all of spaCy:
~1.5 s and ~150 MB per worker), so the workers are plain subprocesses running
`python -m spacy_elmo.io._numbers`, which imports only numpy. Jobs go round
robin, one in flight per worker, and results come back in order.
"""
import pickle
import subprocess
import sys
from typing import Iterable, Iterator, List, Tuple

from ._numbers import BlockResult


class TextBlockPool:
    """`n` worker processes that run `parse_text_block`.

    n (int): the number of worker processes.
    """

    def __init__(self, n: int):
        self.procs: List[subprocess.Popen] = [
            subprocess.Popen(
                [sys.executable, "-m", "spacy_elmo.io._numbers"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(n)
        ]

    def map(self, blocks: Iterable[Tuple[bytes, int]], dims: int) -> Iterator[Tuple[BlockResult, int]]:
        """Parse (block, n_lines) pairs; yield (result, n_lines) in input order."""
        in_flight: List[Tuple[subprocess.Popen, int]] = []
        blocks = iter(blocks)
        for proc in self.procs:  # one job per worker to start
            item = next(blocks, None)
            if item is None:
                break
            self._send(proc, item[0], dims)
            in_flight.append((proc, item[1]))
        while in_flight:
            proc, n_lines = in_flight.pop(0)
            result = self._receive(proc)
            item = next(blocks, None)  # refill this worker before using the result
            if item is not None:
                self._send(proc, item[0], dims)
                in_flight.append((proc, item[1]))
            yield result, n_lines

    @staticmethod
    def _send(proc: subprocess.Popen, block: bytes, dims: int) -> None:
        pickle.dump((block, dims), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        proc.stdin.flush()  # type: ignore[union-attr]

    @staticmethod
    def _receive(proc: subprocess.Popen) -> BlockResult:
        try:
            return pickle.load(proc.stdout)  # type: ignore[arg-type]
        except EOFError:
            raise RuntimeError(
                f"A vectors parsing worker exited with code {proc.wait()}. Run again "
                "with n_workers=0 (--workers 0) to parse in one process."
            ) from None

    def close(self) -> None:
        """Stop the workers (also after an error, with jobs still in flight)."""
        for proc in self.procs:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
        for proc in self.procs:
            proc.stdout.read()  # type: ignore[union-attr]  # a result still in flight
            proc.stdout.close()  # type: ignore[union-attr]
            proc.wait()
