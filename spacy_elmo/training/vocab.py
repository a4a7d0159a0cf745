"""The word vocabulary of the softmax layer (bilm-tf layout: one token a line,
`<S>`, `</S>`, `<UNK>` first, then by descending count)."""
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

from ..bilm.chars import BOS_TOKEN, EOS_TOKEN
from ..errors import Errors, InputError
from ..io.atomic import atomic_write_text
from ..io.text import check_input_file

UNK_TOKEN = "<UNK>"
SPECIALS = (BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)
PathLike = Union[str, Path]


class Vocab:
    """Token <-> id. Ids 0, 1, 2 are `<S>`, `</S>`, `<UNK>`; unknown tokens map
    to `<UNK>`.

    tokens (Sequence[str]): every token once, specials first.
    """

    def __init__(self, tokens: Sequence[str], path: str = "vocab"):
        if tuple(tokens[:3]) != SPECIALS:
            raise InputError(Errors.E214.format(path=path, found=list(tokens[:3])))
        self.tokens: List[str] = list(tokens)
        self.index: Dict[str, int] = {}
        for i, token in enumerate(self.tokens):
            if token in self.index:
                raise InputError(
                    Errors.E204.format(path=path, line=i + 1, token=token, first=self.index[token] + 1)
                )
            self.index[token] = i

    bos = 0
    eos = 1
    unk = 2

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.tokens == other.tokens

    def lookup(self, token: str) -> int:
        return self.index.get(token, self.unk)

    def to_disk(self, path: PathLike) -> None:
        """Write vocab.txt atomically, one token a line."""
        atomic_write_text(Path(path), "\n".join(self.tokens) + "\n")

    @classmethod
    def from_disk(cls, path: PathLike) -> "Vocab":
        """Read a vocabulary file; the specials are added in front if missing.
        Duplicates and blank lines are errors naming the line."""
        return cls(read_word_list(path, add_specials=True), path=str(path))


def read_word_list(path: PathLike, add_specials: bool = False) -> List[str]:
    """A one-token-a-line file as a list, checking for duplicates, blank lines,
    whitespace inside tokens and bad UTF-8 (each error names the line).

    add_specials (bool): put `<S>`, `</S>`, `<UNK>` first (moving them if present).
    """
    path = Path(path)
    check_input_file(path, "Pass a vocabulary file, one token a line.")
    seen: Dict[str, int] = {}
    tokens: List[str] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                token = raw.decode("utf8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise InputError(Errors.E040.format(path=path, line=number, err=err)) from None
            if not token.strip() or token != token.strip() or len(token.split()) != 1:
                raise InputError(
                    Errors.E200.format(
                        path=path,
                        why=f"line {number}: expected one token without spaces, got {token!r}",
                    )
                )
            if token in seen:
                raise InputError(
                    Errors.E204.format(path=path, line=number, token=token, first=seen[token])
                )
            seen[token] = number
            tokens.append(token)
    if not tokens:
        raise InputError(Errors.E201.format(path=path))
    if add_specials:
        tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
    return tokens


def build_vocab(
    lines: Iterable[List[str]], min_count: int = 1, max_size: Optional[int] = None
) -> Vocab:
    """Count whitespace tokens and keep those seen at least `min_count` times,
    the `max_size` most frequent (specials included in the size), ties broken
    alphabetically so the result is deterministic.

    lines (Iterable[List[str]]): tokenized lines (e.g. from data.iter_lines).
    RETURNS (Vocab): the vocabulary.
    """
    counts: Counter = Counter()
    for tokens in lines:
        counts.update(tokens)
    for special in SPECIALS:
        counts.pop(special, None)
    kept = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
    if max_size:
        kept = kept[: max(0, max_size - len(SPECIALS))]
    return Vocab(list(SPECIALS) + kept)
