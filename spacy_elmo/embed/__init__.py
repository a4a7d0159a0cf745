"""Embed a file of sentences into HDF5, like AllenNLP's `allennlp elmo`
command: `python -m spacy elmo embed`, also under torchrun.

reader.py streams and checks the input, plan.py decides what runs together
(bilm/batching.py's policy for long lines and batches, over windows of lines), writer.py writes AllenNLP's
layout, ranks.py is the torchrun side, run.py puts them together and
model.py loads the biLM the command line names.
"""
from ..bilm.batching import MAX_LENGTH, TOKEN_BUDGET, Segment
from .model import load_for_cli
from .ranks import Ranks
from .reader import InputSummary, iter_lines, scan_input
from .run import EmbedSettings, embed_file
from .writer import OUTPUTS, select_output

__all__ = [
    "EmbedSettings", "InputSummary", "MAX_LENGTH", "OUTPUTS", "Ranks", "Segment", "TOKEN_BUDGET",
    "embed_file", "iter_lines", "load_for_cli", "scan_input",
    "select_output",
]
