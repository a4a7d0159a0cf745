"""Property tests of the NER corpus reader (corpora.py) on random
token-per-line files: random words, tags, columns, blank and whitespace
lines, comments, -DOCSTART- lines, line endings, byte-order marks and
compressions. A valid file reads back exactly; a damaged one gives sentences
with valid BIO tags or an ElmoError naming a line that is at fault, never
another exception."""
import bz2
import gzip
import lzma
import re
import tempfile
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_elmo.corpora import create_conll_ner_corpus_v1, read_conll_ner
from spacy_elmo.errors import ElmoError

FAST = settings(max_examples=150, derandomize=True, deadline=None, database=None)
SLOW = settings(max_examples=1000, deadline=None, database=None)
NLP = spacy.blank("en")
COMPRESS = {"none": lambda b: b, "gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}

# Words: no whitespace (str.split() would cut them), no surrogates (not UTF-8)
word_chars = st.characters(exclude_categories=("Cs",)).filter(lambda c: not c.isspace() and c != "\ufeff")
words = st.text(word_chars, min_size=1, max_size=8).filter(lambda w: not w.startswith("-DOCSTART-"))
types = st.one_of(st.sampled_from(["PER", "LOC", "ORG", "creative-work"]), st.text(word_chars, min_size=1, max_size=5))
tags = st.one_of(st.just("O"), st.tuples(st.sampled_from(["B-", "I-"]), types).map("".join))
token_line = st.tuples(st.just("token"), words, tags)
other_line = st.one_of(
    st.tuples(st.just("blank"), st.sampled_from(["", " ", "\t", " \t  "])),
    st.tuples(st.just("comment"), st.sampled_from(["# sent_id = 1", "# text = a b"])),
    st.tuples(st.just("docstart"), st.just("-DOCSTART- -X- -X- O")),
)
items = st.lists(st.one_of(token_line, token_line, token_line, other_line), max_size=25)
layouts = st.sampled_from(["wnut", "conll", "uner"])  # token<TAB>tag, token POS chunk tag, id<TAB>token<TAB>tag<TAB>misc
encodings = st.fixed_dictionaries({
    "newline": st.sampled_from(["\n", "\r\n"]),
    "bom": st.booleans(),
    "compress": st.sampled_from(sorted(COMPRESS)),
})
COLUMNS = {"wnut": (0, -1), "conll": (0, -1), "uner": (1, 2)}


def render(item, layout, number):
    kind = item[0]
    if kind != "token":
        return item[1]
    word, tag = item[1], item[2]
    if layout == "wnut":
        return f"{word}\t{tag}"
    if layout == "conll":
        return f"{word} NN I-NP {tag}"
    return f"{number}\t{word}\t{tag}\t-"


def expected_sentences(items):
    """Sentences as a reader of the format sees them: blank and -DOCSTART-
    lines end a sentence, comments do not; I-X not continuing X becomes B-X."""
    sentences, current = [], []
    for item in items + [("blank", "")]:
        if item[0] == "token":
            current.append(item[1:])
        elif item[0] in ("blank", "docstart") and current:
            sentences.append(current)
            current = []
    out = []
    for sentence in sentences:
        bio, previous = [], "O"
        for _, tag in sentence:
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                tag = "B-" + tag[2:]
            bio.append(tag)
            previous = tag
        out.append(([w for w, _ in sentence], bio))
    return out


def write(path, lines, enc):
    data = enc["newline"].join(lines).encode("utf8")
    if enc["bom"]:
        data = b"\xef\xbb\xbf" + data
    path.write_bytes(COMPRESS[enc["compress"]](data))


def check_valid(items, layout, enc):
    word_column, tag_column = COLUMNS[layout]
    lines = [render(item, layout, i) for i, item in enumerate(items, start=1)]
    expected = expected_sentences(items)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.conll"
        write(path, lines, enc)
        assert list(read_conll_ner(path, word_column=word_column, tag_column=tag_column)) == expected
        corpus = create_conll_ner_corpus_v1(path=str(path), word_column=word_column, tag_column=tag_column)
        examples = list(corpus(NLP))
    assert [[t.text for t in eg.reference] for eg in examples] == [w for w, _ in expected]
    assert [sum(t.startswith("B-") for t in tags) for _, tags in expected] == [len(eg.reference.ents) for eg in examples]


@FAST
@given(items, layouts, encodings)
def test_valid_files_read_back_exactly(items, layout, enc):
    check_valid(items, layout, enc)


@pytest.mark.slow
@SLOW
@given(items, layouts, encodings)
def test_valid_files_read_back_exactly_many(items, layout, enc):
    check_valid(items, layout, enc)


# Damage: random text lines (tabs, odd tags, few columns), random bytes, or the
# whole file in another encoding.
junk_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20).map(lambda s: s.replace("\n", ""))
junk_line = st.one_of(
    junk_text,
    st.tuples(junk_text, st.sampled_from(["\t", " "]), junk_text).map("".join),
    st.tuples(words, st.just("\t"), st.sampled_from(["B-", "I-", "U-PER", "L-X", "o", "B_PER", "", " ", "BI-X"])).map("".join),
    st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")),
)
damages = st.lists(st.tuples(st.integers(0, 30), junk_line), min_size=1, max_size=3)
schemes = st.sampled_from(["auto", "bio"])
file_encodings = st.sampled_from(["utf8", "latin1", "utf-16", "cp1252"])


def columns(line):
    return line.split("\t") if "\t" in line else line.split()


def is_tag(tag):
    tag = tag.strip()
    return tag == "O" or (len(tag) > 2 and tag[:2] in ("B-", "I-"))


def in_range(index, n):
    return -n <= index < n


def check_error(message, raw_lines, word_column, tag_column, scheme):
    """The error names a line, and that line is at fault in the way it says."""
    found = re.search(r", line (\d+)", message)
    assert found, message
    number = int(found.group(1))
    assert 1 <= number <= len(raw_lines), message
    raw = raw_lines[number - 1]
    if "not valid UTF-8" in message:  # E040
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf8")
        return
    if "data is damaged or cut off" in message:  # E097: random bytes that start like gzip/bz2/xz
        assert number == 1 and raw_lines[0][:2] in (b"\x1f\x8b", b"BZ", b"\xfd7"), message
        return
    cols = columns(raw.decode("utf8").rstrip("\r").lstrip("\ufeff"))
    if "column(s)" in message:  # E301
        assert len(cols) < 2 or not in_range(word_column, len(cols)) or not in_range(tag_column, len(cols)), message
    elif "is not a BIO/IOB1 tag" in message:  # E302
        assert not is_tag(cols[tag_column]), message
    elif "word column" in message:  # E096
        assert cols[word_column] == "", message
    else:  # E304: with scheme "bio", an I- tag that does not continue its entity
        assert scheme == "bio" and "does not continue an entity" in message, message
        assert cols[tag_column].strip().startswith("I-"), message


def check_sentences(sentences):
    for words_, tags_ in sentences:
        assert len(words_) == len(tags_) > 0 and all(words_)
        previous = "O"
        for tag in tags_:
            assert is_tag(tag) and tag == tag.strip()
            assert not (tag.startswith("I-") and previous[2:] != tag[2:])  # valid BIO
            previous = tag


def check_damaged(items, layout, damage, scheme, encoding):
    word_column, tag_column = COLUMNS[layout]
    lines = [render(item, layout, i).encode("utf8") for i, item in enumerate(items, start=1)]
    for index, junk in damage:
        lines.insert(min(index, len(lines)), junk if isinstance(junk, bytes) else junk.encode("utf8"))
    data = b"\n".join(lines)
    if encoding != "utf8":
        try:
            data = data.decode("utf8").encode(encoding)
        except (UnicodeDecodeError, UnicodeEncodeError):
            pass  # not representable: keep the UTF-8 bytes
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.conll"
        path.write_bytes(data)
        corpus = create_conll_ner_corpus_v1(path=str(path), word_column=word_column, tag_column=tag_column, scheme=scheme)
        try:
            sentences = list(read_conll_ner(path, word_column=word_column, tag_column=tag_column, scheme=scheme))
        except ElmoError as err:
            check_error(str(err), data.split(b"\n"), word_column, tag_column, scheme)
            with pytest.raises(ElmoError):  # the same through the registered reader
                list(corpus(NLP))
            return
        examples = list(corpus(NLP))  # spaCy takes every sentence
    assert len(examples) == len(sentences)
    check_sentences(sentences)


@FAST
@given(items, layouts, damages, schemes, file_encodings)
def test_damaged_files_give_bio_or_an_error_naming_a_line(items, layout, damage, scheme, encoding):
    check_damaged(items, layout, damage, scheme, encoding)


@pytest.mark.slow
@SLOW
@given(items, layouts, damages, schemes, file_encodings)
def test_damaged_files_give_bio_or_an_error_naming_a_line_many(items, layout, damage, scheme, encoding):
    check_damaged(items, layout, damage, scheme, encoding)


def check_compressed(items, layout, compression, where, cut):
    """A compressed file cut short or with one byte flipped: BIO sentences or
    an ElmoError naming a line (the decompressor's errors included)."""
    word_column, tag_column = COLUMNS[layout]
    text = "\n".join(render(item, layout, i) for i, item in enumerate(items, start=1)).encode("utf8")
    data = bytearray(COMPRESS[compression](text))
    position = int(where * (len(data) - 1))
    if cut:
        data = data[:position]
    else:
        data[position] ^= 0xFF
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.conll.gz"
        path.write_bytes(bytes(data))
        try:
            sentences = list(read_conll_ner(path, word_column=word_column, tag_column=tag_column))
        except ElmoError as err:
            found = re.search(r", line (\d+)", str(err))
            assert found and int(found.group(1)) >= 1, str(err)
            if cut:  # what is left decompresses to a prefix of the text's count + 1 lines
                assert int(found.group(1)) <= text.count(b"\n") + 2, str(err)  # + the line it breaks at
            return
    check_sentences(sentences)


@FAST
@given(items, layouts, st.sampled_from(["gzip", "bz2", "xz"]), st.floats(0.0, 1.0), st.booleans())
def test_damaged_compressed_files(items, layout, compression, where, cut):
    check_compressed(items, layout, compression, where, cut)


@pytest.mark.slow
@SLOW
@given(items, layouts, st.sampled_from(["gzip", "bz2", "xz"]), st.floats(0.0, 1.0), st.booleans())
def test_damaged_compressed_files_many(items, layout, compression, where, cut):
    check_compressed(items, layout, compression, where, cut)
