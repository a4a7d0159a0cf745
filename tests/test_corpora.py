"""NER readers on the real WNUT-17, CoNLL-2003 and Universal NER files."""
import bz2
import gzip
import lzma

import pytest
import spacy
from spacy.training import offsets_to_biluo_tags

from spacy_elmo.corpora import create_conll_ner_corpus_v1, read_conll_ner
from spacy_elmo.errors import ElmoError

from helpers import ROOT


@pytest.mark.parametrize("name,n_sents", [
    ("wnut17train.conll", 3394), ("emerging.dev.conll", 1009), ("emerging.test.annotated", 1287)])
def test_wnut17_counts_and_tags(shared_data, name, n_sents):
    sentences = list(read_conll_ner(shared_data / "wnut17" / name))
    assert len(sentences) == n_sents  # the counts data/README.md gives
    types = {t[2:] for _, tags in sentences for t in tags if t != "O"}
    assert types == {"person", "location", "group", "creative-work", "corporation", "product"}
    for words, tags in sentences:
        assert len(words) == len(tags) and all(w.strip() for w in words)


def test_conll2003_iob1_becomes_bio(shared_data):
    path = shared_data / "conll2003-english" / "eng.testb.gz"
    sentences = list(read_conll_ner(path))
    assert len(sentences) == 3453
    # raw IOB1 starts entities with I-; after normalisation every entity starts with B-
    with gzip.open(path, "rt", encoding="utf8") as f:
        raw = [line.split()[-1] for line in f if line.strip() and not line.startswith("-DOCSTART-")]
    assert sum(t.startswith("I-") for t in raw) > 0
    flat = [t for _, tags in sentences for t in tags]
    assert len(flat) == len(raw) == 46435
    for _, tags in sentences:
        previous = "O"
        for tag in tags:
            assert not (tag.startswith("I-") and previous[2:] != tag[2:])
            previous = tag
    # the entity count is that of the IOB1 reading: an entity starts at I-X
    # after a non-X tag, or at B-X
    with gzip.open(path, "rt", encoding="utf8") as f:
        lines = [line.split()[-1] if line.strip() and not line.startswith("-DOCSTART-") else "" for line in f]
    starts, prev = 0, "O"
    for tag in lines:  # "" = sentence boundary: entities never cross it
        if tag.startswith("B-") or (tag.startswith("I-") and prev[2:] != tag[2:]):
            starts += 1
        prev = tag or "O"
    assert sum(t.startswith("B-") for t in flat) == starts
    with pytest.raises(ElmoError, match="IOB1"):
        list(read_conll_ner(path, scheme="bio"))


def test_universal_ner_columns(shared_data):
    path = shared_data / "uner-english-ewt" / "en_ewt-ud-dev.iob2"
    sentences = list(read_conll_ner(path, word_column=1, tag_column=2, scheme="bio"))
    assert len(sentences) == 2001
    assert sum(len(w) for w, _ in sentences) == 25149
    assert {t[2:] for _, tags in sentences for t in tags if t != "O"} == {"PER", "LOC", "ORG"}


def test_registered_reader_gives_examples_with_entities(shared_data):
    nlp = spacy.blank("en")
    reader = spacy.util.registry.readers.get("spacy-elmo.ConllNerCorpus.v1")
    corpus = reader(path=str(shared_data / "wnut17" / "emerging.dev.conll"), limit=50)
    examples = list(corpus(nlp))
    assert len(examples) == 50
    words, tags = next(iter(read_conll_ner(shared_data / "wnut17" / "emerging.dev.conll")))
    first = examples[0].reference
    assert [t.text for t in first] == words
    n_entities = sum(t.startswith("B-") for _, tags in list(read_conll_ner(shared_data / "wnut17" / "emerging.dev.conll"))[:50] for t in tags)
    assert sum(len(eg.reference.ents) for eg in examples) == n_entities > 0
    # round trip: entities back to BIO tags match the file
    biluo = offsets_to_biluo_tags(first, [(e.start_char, e.end_char, e.label_) for e in first.ents])
    from spacy.training import biluo_to_iob
    assert biluo_to_iob(biluo) == tags


@pytest.mark.parametrize("text,match", [
    ("a\tO\nb\n", "line 2: the line has 1 column"),
    ("a\tO\nb\tX-PER\n", "line 2: 'X-PER' is not a BIO"),
    ("a\tO\nb\tU-PER\n", "line 2: 'U-PER'"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, match):
    path = tmp_path / "bad.conll"
    path.write_text(text, encoding="utf8")
    with pytest.raises(ElmoError, match=match) as info:
        list(read_conll_ner(path))
    assert str(path) in str(info.value)


def test_bio_strict_names_the_line(tmp_path):
    path = tmp_path / "iob1.conll"
    path.write_text("x\tO\n\nEU\tI-ORG\nrejects\tO\n", encoding="utf8")
    with pytest.raises(ElmoError, match="line 3"):
        list(read_conll_ner(path, scheme="bio"))
    assert list(read_conll_ner(path)) == [(["x"], ["O"]), (["EU", "rejects"], ["B-ORG", "O"])]


def test_whitespace_only_lines_and_hash_tokens(tmp_path):
    path = tmp_path / "w.conll"
    path.write_text("#\tO\n#blessed\tO\n \t\nNew\tB-location\nYork\tI-location\n\t\n", encoding="utf8")
    assert list(read_conll_ner(path)) == [(["#", "#blessed"], ["O", "O"]), (["New", "York"], ["B-location", "I-location"])]


def test_missing_file_and_bad_scheme(tmp_path):
    with pytest.raises(ElmoError, match="does not exist"):
        list(read_conll_ner(tmp_path / "nope.conll"))
    with pytest.raises(ElmoError, match="scheme"):
        list(read_conll_ner(tmp_path / "nope.conll", scheme="bioes"))
    with pytest.raises(ElmoError, match="needs a path"):
        list(create_conll_ner_corpus_v1(path=None)(spacy.blank("en")))
    bad = tmp_path / "latin1.conll"
    bad.write_bytes("caf\xe9\tO\n".encode("latin1"))
    with pytest.raises(ElmoError, match="UTF-8"):
        list(read_conll_ner(bad))


def test_corpus_text_script_writes_training_tokens(shared_data, tmp_path):
    """scripts/corpus_text.py: tokens of .spacy sentences and of a WNUT-17 file
    as pretraining text, one sentence per line, in file order."""
    import subprocess
    import sys

    from spacy.tokens import Doc, DocBin

    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Hello", "there", ".", "New", "line", "  ", "here"],
              sent_starts=[True, False, False, True, False, False, False])
    DocBin(docs=[doc, Doc(nlp.vocab, words=["no", "sentences"])]).to_disk(tmp_path / "a.spacy")
    wnut = shared_data / "wnut17" / "wnut17train.conll"
    out = tmp_path / "text.txt"
    script = ROOT / "scripts" / "corpus_text.py"
    result = subprocess.run([sys.executable, str(script), str(out), str(tmp_path / "a.spacy"), str(wnut)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf8").splitlines()
    sentences = list(read_conll_ner(wnut))
    assert lines[:3] == ["Hello there .", "New line here", "no sentences"]
    assert len(lines) == 3 + len(sentences) == 3 + 3394
    assert lines[3:] == [" ".join(words) for words, _ in sentences]
    missing = subprocess.run([sys.executable, str(script), str(tmp_path / "x.txt"), str(tmp_path / "nope.conll")],
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "nope.conll: no such file" in missing.stderr
    assert not (tmp_path / "x.txt").exists()


def wnut_docbin(shared_data, out, n=60):
    """The first n sentences of WNUT-17 dev as a DocBin (as scripts/convert_ner.py writes it)."""
    from spacy.tokens import DocBin

    from spacy_elmo.corpora import ner_examples

    sentences = list(read_conll_ner(shared_data / "wnut17" / "emerging.dev.conll"))[:n]
    docs = [eg.reference for eg in ner_examples(spacy.blank("en"), sentences)]
    DocBin(docs=docs).to_disk(out)
    return sentences


def summary(examples):
    return [([t.text for t in eg.reference], [(e.start, e.end, e.label_) for e in eg.reference.ents],
             [t.text for t in eg.predicted]) for eg in examples]


def test_reader_takes_docbin_files_by_content(shared_data, tmp_path):
    """A .spacy file (or a DocBin under any name) reads as spaCy's own
    spacy.Corpus.v1 reads it, with the same entities as the token-per-line file."""
    from spacy.training import Corpus

    nlp = spacy.blank("en")
    sentences = wnut_docbin(shared_data, tmp_path / "dev.spacy")
    (tmp_path / "dev.docbin").write_bytes((tmp_path / "dev.spacy").read_bytes())
    expected = summary(Corpus(tmp_path / "dev.spacy")(nlp))
    assert len(expected) == 60 and sum(len(ents) for _, ents, _ in expected) > 10
    assert [words for words, _, _ in expected] == [words for words, _ in sentences]
    for name in ("dev.spacy", "dev.docbin"):
        reader = create_conll_ner_corpus_v1(path=str(tmp_path / name), word_column=3, scheme="bio")
        assert summary(reader(nlp)) == expected  # column settings do not apply to DocBin
        assert summary(create_conll_ner_corpus_v1(path=str(tmp_path / name), limit=7)(nlp)) == expected[:7]
        shuffled = summary(create_conll_ner_corpus_v1(path=str(tmp_path / name), shuffle=True)(nlp))
        assert shuffled != expected and sorted(shuffled) == sorted(expected)


def test_damaged_docbin_names_the_file(shared_data, tmp_path):
    wnut_docbin(shared_data, tmp_path / "dev.spacy")
    data = (tmp_path / "dev.spacy").read_bytes()
    (tmp_path / "cut.spacy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ElmoError, match="cut.spacy: the file starts like a spaCy DocBin"):
        list(create_conll_ner_corpus_v1(path=str(tmp_path / "cut.spacy"))(spacy.blank("en")))


def test_reader_checks_its_path_when_read(tmp_path):
    """As spaCy's readers: resolving the config does not need the file; reading
    it names the file and the setting."""
    corpus = create_conll_ner_corpus_v1(path=str(tmp_path / "nope.conll"))
    with pytest.raises(ElmoError, match=r"nope.conll: the file does not exist. Check \[corpora\] path / --paths.train"):
        list(corpus(spacy.blank("en")))
    (tmp_path / "notes.txt").write_text("not a corpus\n")
    with pytest.raises(ElmoError, match=r"is a directory with no spaCy DocBin \(.spacy\) files in it"):
        list(create_conll_ner_corpus_v1(path=str(tmp_path))(spacy.blank("en")))


def test_reader_takes_a_directory_of_docbin_files(shared_data, tmp_path):
    """--paths.train corpus/ reads every .spacy file under it, as spacy.Corpus.v1 does."""
    from spacy.training import Corpus

    nlp = spacy.blank("en")
    wnut_docbin(shared_data, tmp_path / "one.spacy")
    (tmp_path / "corpus" / "part").mkdir(parents=True)
    (tmp_path / "corpus" / ".hidden").mkdir()
    data = (tmp_path / "one.spacy").read_bytes()
    for name in ("a.spacy", "part/b.spacy", ".hidden/c.spacy"):
        (tmp_path / "corpus" / name).write_bytes(data)
    (tmp_path / "corpus" / "README.txt").write_text("ignored\n")
    expected = summary(Corpus(tmp_path / "corpus")(nlp))
    assert len(expected) == 120  # two files: the hidden folder is skipped
    assert summary(create_conll_ner_corpus_v1(path=str(tmp_path / "corpus"))(nlp)) == expected
    assert summary(create_conll_ner_corpus_v1(path=str(tmp_path / "corpus"), limit=70)(nlp)) == expected[:70]
    (tmp_path / "corpus" / "part" / "b.spacy").write_bytes(data[: len(data) // 2])
    with pytest.raises(ElmoError, match=r"b.spacy: the file starts like a spaCy DocBin"):
        list(create_conll_ner_corpus_v1(path=str(tmp_path / "corpus"))(nlp))


def test_debug_config_passes_without_the_data(tmp_path):
    """`python -m spacy debug config configs/ner_elmo.cfg --paths.train x --paths.dev y`
    ends with 'Config is valid', as for spaCy's own readers."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "spacy", "debug", "config", str(ROOT / "configs" / "ner_elmo.cfg"),
                           "--paths.train", "x", "--paths.dev", "y"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Config is valid" in proc.stdout and "Traceback" not in proc.stderr


def test_byte_order_mark_and_empty_word(tmp_path):
    path = tmp_path / "bom.conll"
    path.write_bytes("\ufeffNew\tB-location\nYork\tI-location\n".encode("utf8"))
    assert list(read_conll_ner(path)) == [(["New", "York"], ["B-location", "I-location"])]
    path.write_bytes("# sent_id = 1\na\tO\n\tB-person\n".encode("utf-8-sig"))
    with pytest.raises(ElmoError, match=r"line 3: the word column \(0\) is empty"):
        list(read_conll_ner(path))


def test_bio_error_counts_comment_lines(tmp_path):
    """Found by the fuzz test: a comment inside a sentence shifted the line
    that scheme="bio" names."""
    path = tmp_path / "c.conll"
    path.write_text("a\tO\n# sent_id = 1\nb\tI-PER\n", encoding="utf8")
    with pytest.raises(ElmoError, match="line 3: 'I-PER'"):
        list(read_conll_ner(path, scheme="bio"))


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress], ids=["gzip", "bz2", "xz"])
def test_cut_compressed_file_names_the_line(tmp_path, compress):
    """A truncated .gz/.bz2/.xz (an interrupted download) is an ElmoError that
    names the line where the data breaks off (it was a bare EOFError)."""
    data = compress(("word\tO\n" * 3000).encode("utf8"))
    path = tmp_path / "cut.conll"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ElmoError, match=r"cut.conll, line \d+: the (gzip|bz2|xz) data is damaged or cut off"):
        list(read_conll_ner(path))
