"""Embed a file of sentences into HDF5, like AllenNLP's `allennlp elmo` command."""
import json
from pathlib import Path
from typing import List, Optional, Tuple, Union

import h5py
import numpy
import spacy
import torch
from tqdm import tqdm

from .bilm.model import BiLM, check_state_mode, keeps_row_order
from .errors import ElmoError, Errors, InputError
from .io.atomic import atomic_path
from .io.pretrained import load_pretrained_bilm
from .io.text import open_text
from .models.bilm import get_bilm
from .pipeline.elmo import Elmo

OUTPUTS = ("all", "top", "average")


def read_sentences(path: Union[str, Path]) -> List[List[str]]:
    """One whitespace-tokenized sentence per line; blank lines are an error."""
    path = Path(path)
    sentences: List[List[str]] = []
    with open_text(path, "Pass a text file, one sentence per line.") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf8")
            except UnicodeDecodeError as err:
                raise InputError(Errors.E040.format(path=path, line=number, err=err)) from None
            tokens = line.split()
            if not tokens:
                raise InputError(Errors.E043.format(path=path, line=number))
            sentences.append(tokens)
    return sentences


def select_output(layers: numpy.ndarray, output: str) -> numpy.ndarray:
    """(n_layers + 1, n, dim) -> the array written for one sentence."""
    if output == "all":
        return layers
    if output == "top":
        return layers[-1]
    return layers.mean(axis=0)


def embed_sentences(
    bilm: BiLM,
    sentences: List[List[str]],
    *,
    batch_size: int = 64,
    mode: str = "warm",
    progress: bool = False,
):
    """Yield (index, layers (n_layers + 1, n_tokens, dim) float32) per sentence.

    In "carry" mode the sentences run in file order, row i of each batch
    continuing row i of the previous one (AllenNLP's stateful behaviour); in
    the other modes they run sorted by length, which is faster and gives the
    same vectors.
    """
    order = list(range(len(sentences)))
    if not keeps_row_order(check_state_mode(mode, "--state-mode")):
        order.sort(key=lambda i: -len(sentences[i]))
    bar = tqdm(total=len(sentences), unit="sent", disable=not progress, desc="embed")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        layers, n_tokens = bilm.embed_sentences([sentences[i] for i in rows], mode=mode)
        layers = layers.float().cpu().numpy()
        for row, (index, n) in enumerate(zip(rows, n_tokens.tolist())):
            yield index, layers[row, :, :n]
        bar.update(len(rows))
    bar.close()


def embed_file(
    input_file: Union[str, Path],
    output_file: Union[str, Path],
    bilm: BiLM,
    *,
    output: str = "all",
    batch_size: int = 64,
    mode: str = "warm",
    progress: bool = True,
) -> Tuple[int, int]:
    """Write one HDF5 dataset per input line (key: line index as a string) plus
    `sentence_to_index` (JSON, as AllenNLP writes it). The file is written to a
    temporary path and renamed when complete.

    RETURNS (Tuple[int, int]): sentences and tokens embedded.
    """
    if output not in OUTPUTS:
        raise ElmoError(Errors.E044.format(output=output))
    sentences = read_sentences(input_file)
    with atomic_path(output_file, suffix=".hdf5.tmp") as tmp:
        with h5py.File(tmp, "w") as handle:
            for index, layers in embed_sentences(
                bilm, sentences, batch_size=batch_size, mode=mode, progress=progress
            ):
                handle.create_dataset(str(index), data=select_output(layers, output))
            mapping = {" ".join(tokens): str(i) for i, tokens in enumerate(sentences)}
            dataset = handle.create_dataset("sentence_to_index", (1,), dtype=h5py.string_dtype())
            dataset[0] = json.dumps(mapping)
    return len(sentences), sum(len(s) for s in sentences)


def is_spacy_pipeline(path: Union[str, Path]) -> bool:
    path = Path(path)
    return path.is_dir() and (path / "config.cfg").exists() and (path / "meta.json").exists()


def load_for_cli(
    weights: Optional[str], options_file: Optional[str], weight_file: Optional[str], gpu_id: int
) -> BiLM:
    """The biLM named on the command line, on the requested device: a preset,
    a weights directory, a pair of files, or the elmo component of a saved
    spaCy pipeline."""
    if weights is None and options_file is None and weight_file is None:
        weights = "default"
    if options_file is None and weight_file is None and weights and is_spacy_pipeline(weights):
        nlp = spacy.load(weights)
        elmo = [c for _, c in nlp.pipeline if isinstance(c, Elmo)]
        if not elmo:
            raise ElmoError(Errors.E042.format(path=weights, pipes=nlp.pipe_names))
        bilm = get_bilm(elmo[0].model)
    else:
        bilm = load_pretrained_bilm(weights, options_file=options_file, weight_file=weight_file)
    if gpu_id >= 0:
        bilm.to(torch.device("cuda", gpu_id))
    return bilm
