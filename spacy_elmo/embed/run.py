"""`embed`: every line of a text file through the biLM, into one HDF5 file.

What runs together is decided in plan.py; the input is streamed (reader.py)
and each line's dataset is written as soon as its tokens are embedded
(writer.py), so memory does not grow with the number of lines. Under
torchrun each rank embeds every WORLD_SIZE-th window into its own temporary
file and rank 0 merges them into the output file, which holds the same
datasets as a one-process run (the batches are the same).
"""
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, List, Optional, Tuple, Union

import h5py
from tqdm import tqdm

from ..bilm.batching import MAX_LENGTH, TOKEN_BUDGET
from ..bilm.model import BiLM, check_state_mode, keeps_row_order
from ..bilm.precision import check_precision
from ..errors import ElmoError, Errors
from ..io.atomic import atomic_path, check_free_space, check_output_file, scratch_path
from .memory import HeapTrimmer
from .plan import WINDOW_BATCHES, Segment, Window, carry_batches, window_batches, windows
from .ranks import Ranks
from .reader import InputSummary, iter_lines, scan_input
from .writer import OUTPUTS, LineWriter, merge_parts, write_index

PathLike = Union[str, Path]


@dataclass(frozen=True)
class EmbedSettings:
    """How `embed_file` runs (the `embed` command's flags).

    output (str): "all" layers, the "top" one or their "average".
    batch_size (int): most lines (or chunks) per biLM batch.
    mode (str): state mode, "warm", "reset" or "carry" (bilm/model.py).
    precision (str): "fp32" (exact), "tf32", "bf16" or "fp16" (bilm/precision.py).
    max_length (Optional[int]): warm / reset: lines longer than this are cut
        into chunks this long (0: never cut); None: MAX_LENGTH, and whole lines
        in carry mode, which cannot cut them.
    token_budget (Optional[int]): warm / reset: most padded tokens per batch;
        None: TOKEN_BUDGET.
    """

    output: str = "all"
    batch_size: int = 64
    mode: str = "warm"
    precision: str = "fp32"
    max_length: Optional[int] = None
    token_budget: Optional[int] = None

    def resolved(self, world: int = 1, device_type: str = "cpu") -> "EmbedSettings":
        """These settings checked (an ElmoError names the flag) and with the
        defaults of max_length and token_budget filled in."""
        if self.output not in OUTPUTS:
            raise ElmoError(Errors.E044.format(output=self.output))
        check_state_mode(self.mode, "--state-mode")
        check_precision(self.precision, "--precision", device_type)
        if keeps_row_order(self.mode):
            given = {"--max-length": self.max_length, "--token-budget": self.token_budget}
            for flag, value in given.items():
                if value:  # 0 / None: whole lines, which is what carry does
                    raise ElmoError(Errors.E047.format(flag=flag, value=value))
            if world > 1:
                raise ElmoError(Errors.E048.format(world=world))
            return replace(self, max_length=0, token_budget=0)
        return replace(
            self,
            max_length=MAX_LENGTH if self.max_length is None else self.max_length,
            token_budget=self.token_budget or TOKEN_BUDGET,
        )


DATASET_BYTES = 512  # HDF5's own bytes per dataset (measured: ~375)


def output_bytes(bilm: BiLM, summary: InputSummary, settings: EmbedSettings) -> int:
    """About how large the output file will be: float32 vectors, HDF5's
    overhead per line, and sentence_to_index (at most the input's size)."""
    layers = bilm.config.n_layers + 1 if settings.output == "all" else 1
    vectors = summary.n_tokens * layers * 2 * bilm.config.projection_dim * 4
    return vectors + summary.n_lines * DATASET_BYTES + summary.path.stat().st_size


def embed_file(
    input_file: PathLike,
    output_file: PathLike,
    bilm: BiLM,
    settings: EmbedSettings = EmbedSettings(),
    *,
    progress: bool = True,
    summary: Optional[InputSummary] = None,
    ranks: Optional[Ranks] = None,
) -> Tuple[int, int]:
    """Write one HDF5 dataset per input line (key: the line index as a
    string; *Shape:* (n_layers + 1, n_tokens, dim) for "all", (n_tokens,
    dim) otherwise) and `sentence_to_index`, as AllenNLP's `elmo` command
    does. The output path, the free disk space and every input line are
    checked before any embedding; the file is written to a temporary path
    and renamed when complete.

    summary (Optional[InputSummary]): `scan_input(input_file)`, if done already.
    ranks (Optional[Ranks]): this process's share under torchrun (started).
    RETURNS (Tuple[int, int]): sentences and tokens embedded.
    """
    ranks = ranks or Ranks()
    settings = settings.resolved(ranks.world, bilm.device.type)
    output_file = check_output_file(output_file, "OUTPUT_FILE")
    summary = summary or scan_input(input_file)
    if ranks.is_main:
        need = output_bytes(bilm, summary, settings) * (1 if ranks.world == 1 else 2)  # parts, then the file
        hint = ", or pass --top or --average" if settings.output == "all" else ""
        check_free_space(output_file, need, "OUTPUT_FILE", hint=hint)
    if ranks.world == 1:
        with atomic_path(output_file, suffix=".hdf5.tmp") as tmp, h5py.File(tmp, "w") as handle:
            _embed_into(handle, bilm, summary, settings, ranks, progress)
            write_index(handle, summary, tmp.parent)
        return summary.n_lines, summary.n_tokens
    with scratch_path(output_file, f".rank{ranks.rank}.hdf5.tmp") as part:
        with h5py.File(part, "w") as handle:
            _embed_into(handle, bilm, summary, settings, ranks, progress)
        parts = [Path(p) for p in ranks.gather(str(part))]
        if ranks.is_main:
            with atomic_path(output_file, suffix=".hdf5.tmp") as tmp, h5py.File(tmp, "w") as handle:
                merge_parts(handle, parts)
                write_index(handle, summary, tmp.parent)
        ranks.barrier()  # the parts are read: each rank may delete its own
    return summary.n_lines, summary.n_tokens


def _embed_into(
    handle: h5py.File,
    bilm: BiLM,
    summary: InputSummary,
    settings: EmbedSettings,
    ranks: Ranks,
    progress: bool,
) -> None:
    """Embed this rank's windows of the input into `handle`."""
    writer = LineWriter(handle, settings.output)
    total = summary.n_lines if ranks.world == 1 else None
    trim = HeapTrimmer()
    bar = tqdm(total=total, unit="sent", desc="embed", disable=not (progress and ranks.is_main))
    for window, batches in _work(bilm, summary, settings, ranks):
        for batch in batches:
            rows = [window.tokens(segment) for segment in batch]
            layers, _ = bilm.embed_sentences(rows, mode=settings.mode, precision=settings.precision)
            arrays = layers.cpu().numpy()
            for row, (line, start, end) in enumerate(batch):
                writer.write(line, window.length(line), start, arrays[row, :, : end - start])
            del layers, arrays
            trim()
        bar.update(len(window.lines))
    bar.close()


def _work(
    bilm: BiLM, summary: InputSummary, settings: EmbedSettings, ranks: Ranks
) -> Iterator[Tuple[Window, Iterator[List[Segment]]]]:
    """This rank's windows with their batches (plan.py)."""
    lines = iter_lines(summary.path)
    if keeps_row_order(settings.mode):
        # bilm-tf/AllenNLP: each run starts from zeros and carries from batch to batch
        bilm.reset_carry()
        for window in carry_batches(lines, settings.batch_size):
            whole = [(window.first + i, 0, len(tokens)) for i, tokens in enumerate(window.lines)]
            yield window, iter([whole])
        return
    budget, max_length = int(settings.token_budget or 0), int(settings.max_length or 0)
    for window in windows(lines, WINDOW_BATCHES * budget):
        if window.number % ranks.world == ranks.rank:
            yield window, window_batches(
                window, batch_size=settings.batch_size, token_budget=budget, max_length=max_length
            )
