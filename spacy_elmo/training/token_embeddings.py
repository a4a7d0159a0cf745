"""Context-free char-CNN vectors for a word list (bilm-tf's
`dump_token_embeddings` cache trick): known words can skip the char CNN.
Computed as `embed` computes layer 0 (`BiLM.token_vectors`), so the vectors
are the same bit for bit on the same device."""
from pathlib import Path
from typing import Union

import h5py
import numpy
import torch

from ..bilm.model import BiLM
from ..bilm.precision import fp32_flags
from ..io.atomic import atomic_path, check_output_file
from .vocab import read_word_list

PathLike = Union[str, Path]


@torch.no_grad()
def token_embeddings(model: BiLM, words, batch_size: int = 1024) -> numpy.ndarray:
    """*Shape:* (n_words, projection_dim) float32, row i = words[i]. The
    sentence markers (`<S>` / `</S>`; `<bos>` / `<eos>` for ELMoForManyLangs
    models) get the marker vectors, as in bilm-tf."""
    model.eval()
    encoder = model.chars  # the model's own input encoder (bytes, or EFML's vocabularies)
    out = numpy.zeros((len(words), model.config.projection_dim), dtype=numpy.float32)
    for start in range(0, len(words), batch_size):
        chars = torch.from_numpy(encoder.encode(words[start : start + batch_size])).to(model.device)
        with fp32_flags("fp32"):  # as embed's exact layer 0: not cuDNN's default TF32
            out[start : start + len(chars)] = model.token_vectors(chars).float().cpu().numpy()
    return out


def dump_token_embeddings(model: BiLM, vocab_file: PathLike, output_file: PathLike) -> int:
    """Write `embedding` *Shape:* (n_words, projection_dim) to an hdf5 file
    (temporary file + rename). The vocab file has one word a line, no
    duplicates. RETURNS (int): the number of words."""
    check_output_file(output_file, "OUTPUT_FILE")  # before the work, not after it
    words = read_word_list(vocab_file)
    vectors = token_embeddings(model, words)
    with atomic_path(output_file, suffix=".hdf5.tmp") as tmp:
        with h5py.File(tmp, "w") as handle:
            handle.create_dataset("embedding", data=vectors)
    return len(words)
