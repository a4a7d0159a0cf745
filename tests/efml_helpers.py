"""ELMoForManyLangs models for tests: models in EFML's on-disk layout built
here, and a direct float64 implementation of EFML_FORMAT.md's equations
(sections 5-8), written from that page, to check the converted modules."""
import json
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import h5py
import numpy
import torch

CHAR_SPECIALS = ["<bos>", "<eos>", "<oov>", "<pad>", "<bow>", "<eow>"]
WORD_SPECIALS = ["<oov>", "<bos>", "<eos>", "<pad>"]
# The trainer's order: characters by first appearance (the corpus starts with <bos>), then the specials.
CHARS = list(dict.fromkeys("<bos>theacndirl.,TAEé日本語ß")) + ["\u3000"]
WORDS = ["the", "a", ",", ".", "cat", "sat", "Le", "chat", "日本語"]


def fixture_sentences(fixture_dir: Path) -> List[List[str]]:
    """The 40 sentences of ../shared/data/efml-fixture."""
    return json.loads((fixture_dir / "sentences.json").read_text(encoding="utf8"))


def fixture_reference(fixture_dir: Path, n: int) -> List[numpy.ndarray]:
    """EFML's own outputs for the fixture's first n sentences."""
    with h5py.File(fixture_dir / "reference" / "cnn_word_char.hdf5", "r") as handle:
        return [handle[str(i)][...] for i in range(n)]


def write_dic(path: Path, keys: Sequence[str]) -> Dict[str, int]:
    """A .dic as EFML's trainer writes it (keys in order, ids 0..V-1);
    returns the lexicon EFML's reader makes of it."""
    lexicon: Dict[str, int] = {}
    with path.open("w", encoding="utf8", newline="\n") as out:
        for i, key in enumerate(keys):
            out.write(f"{key}\t{i}\n")
            parsed = key.strip() or "\u3000"  # EFML: strip(), one field -> U+3000
            lexicon[parsed] = i
    return lexicon


def make_efml_model(
    root: Path,
    *,
    word_dim: int = 6,
    char_dim: int = 4,
    filters: Sequence[Tuple[int, int]] = ((1, 3), (2, 4), (3, 5)),
    n_highway: int = 2,
    projection_dim: int = 5,
    dim: int = 7,
    n_layers: int = 2,
    cell_clip: Optional[float] = 3,
    proj_clip: Optional[float] = 3,
    activation: str = "relu",
    max_chars: int = 12,
    seed: int = 0,
    config_path: str = "/elsewhere/configs/tiny_arch.json",
    arch_name: str = "tiny_arch.json",
    scale: float = 0.5,
) -> Path:
    """A random model in EFML's layout (what biLM.py's save_model writes)."""
    root.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return (torch.rand(*shape, generator=gen) * 2 - 1) * scale

    arch = {
        "encoder": {"name": "elmo", "projection_dim": projection_dim, "cell_clip": cell_clip,
                    "proj_clip": proj_clip, "dim": dim, "n_layers": n_layers},
        "token_embedder": {"name": "cnn", "activation": activation, "filters": [list(f) for f in filters],
                           "n_highway": n_highway, "word_dim": word_dim, "char_dim": char_dim,
                           "max_characters_per_token": max_chars},
        "classifier": {"name": "sampled_softmax", "n_samples": 10},
        "dropout": 0.1,
    }
    (root / arch_name).write_text(json.dumps(arch))
    (root / "config.json").write_text(json.dumps({"seed": 1, "gpu": 3, "config_path": config_path}))
    token: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    if word_dim:
        write_dic(root / "word.dic", WORD_SPECIALS + WORDS)
        token["word_emb_layer.embedding.weight"] = rand(len(WORD_SPECIALS) + len(WORDS), word_dim)
    nf = sum(n for _, n in filters) if char_dim else 0
    if char_dim:
        write_dic(root / "char.dic", CHARS + CHAR_SPECIALS)
        token["char_emb_layer.embedding.weight"] = rand(len(CHARS) + len(CHAR_SPECIALS), char_dim)
        for i, (width, n) in enumerate(filters):
            token[f"convolutions.{i}.weight"] = rand(n, char_dim, width)
            token[f"convolutions.{i}.bias"] = rand(n)
        for k in range(n_highway):
            token[f"highways._layers.{k}.weight"] = rand(2 * nf, nf)
            token[f"highways._layers.{k}.bias"] = rand(2 * nf)
    token["projection.weight"] = rand(projection_dim, word_dim + nf)
    token["projection.bias"] = rand(projection_dim)
    torch.save(token, root / "token_embedder.pkl")
    encoder: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for layer in range(n_layers):
        for direction in ("forward", "backward"):
            p = f"{direction}_layer_{layer}"
            encoder[f"{p}.input_linearity.weight"] = rand(4 * dim, projection_dim)
            encoder[f"{p}.state_linearity.weight"] = rand(4 * dim, projection_dim)
            encoder[f"{p}.state_linearity.bias"] = rand(4 * dim)
            encoder[f"{p}.state_projection.weight"] = rand(projection_dim, dim)
    torch.save(encoder, root / "encoder.pkl")
    return root


def read_dic(path: Path) -> Dict[str, int]:
    lexicon = {}
    for line in path.read_text(encoding="utf8").splitlines():
        fields = line.strip().split("\t")
        if len(fields) == 1:
            fields.insert(0, "\u3000")
        lexicon[fields[0]] = int(fields[1])
    return lexicon


class Reference:
    """EFML's forward pass in float64, straight from EFML_FORMAT.md.

    model_dir (Path): an EFML model directory; arch (Path): its architecture file.
    """

    def __init__(self, model_dir: Path, arch: Path):
        spec = json.loads(arch.read_text())
        self.enc, self.emb = spec["encoder"], spec["token_embedder"]
        load = lambda name: {k: v.double() for k, v in torch.load(model_dir / name, map_location="cpu", weights_only=True).items()}  # noqa: E731
        self.t, self.e = load("token_embedder.pkl"), load("encoder.pkl")
        self.chars = read_dic(model_dir / "char.dic") if self.emb["char_dim"] else {}
        self.words = read_dic(model_dir / "word.dic") if self.emb["word_dim"] else {}

    def token(self, tok: str) -> torch.Tensor:
        """Section 5-6: the token vector *Shape:* (P,)."""
        m = self.emb["max_characters_per_token"]
        parts = []
        if self.emb["word_dim"]:
            parts.append(self.t["word_emb_layer.embedding.weight"][self.words.get(tok, self.words["<oov>"])])
        if self.emb["char_dim"]:
            c = self.chars
            ids = [c["<pad>"]] * m
            ids[0] = c["<eow>"]  # the names are swapped in EFML
            if tok in ("<bos>", "<eos>"):
                ids[1], ids[2] = c[tok], c["<bow>"]
            else:
                for k, ch in enumerate(tok):
                    ids[k + 1] = c.get(ch, c["<oov>"])
                ids[len(tok) + 1] = c["<bow>"]
            x = self.t["char_emb_layer.embedding.weight"][ids].t()[None]  # (1, d_c, M)
            act = torch.relu if self.emb["activation"] == "relu" else torch.tanh
            feats = []
            for i in range(len(self.emb["filters"])):
                y = torch.nn.functional.conv1d(x, self.t[f"convolutions.{i}.weight"], self.t[f"convolutions.{i}.bias"])
                feats.append(act(y[0].max(dim=-1).values))
            h = torch.cat(feats)
            f = h.shape[0]
            for k in range(self.emb["n_highway"]):
                z = self.t[f"highways._layers.{k}.weight"] @ h + self.t[f"highways._layers.{k}.bias"]
                g = torch.sigmoid(z[f:])
                h = g * h + (1 - g) * torch.relu(z[:f])
            parts.append(h)
        return self.t["projection.weight"] @ torch.cat(parts) + self.t["projection.bias"]

    def _run(self, prefix: str, xs: List[torch.Tensor], h: torch.Tensor, c: torch.Tensor):
        """Section 7: one direction of one layer, gates (i, f, g, o), stored bias."""
        w_in, w_st = self.e[f"{prefix}.input_linearity.weight"], self.e[f"{prefix}.state_linearity.weight"]
        b, w_p = self.e[f"{prefix}.state_linearity.bias"], self.e[f"{prefix}.state_projection.weight"]
        d = self.enc["dim"]
        cc, pc = self.enc["cell_clip"], self.enc["proj_clip"]
        out = []
        for x in xs:
            z = w_in @ x + w_st @ h + b
            i, f, g, o = torch.sigmoid(z[:d]), torch.sigmoid(z[d : 2 * d]), torch.tanh(z[2 * d : 3 * d]), torch.sigmoid(z[3 * d :])
            c = i * g + f * c
            if cc:
                c = c.clamp(-cc, cc)
            h = w_p @ (o * torch.tanh(c))
            if pc:
                h = h.clamp(-pc, pc)
            out.append(h)
        return out, h, c

    def sentence(self, tokens: Sequence[str], state=None):
        """Section 8: (L+1, n, 2P) without the markers, and the final state
        {(layer, direction): (h, c)} (forward after <eos>, backward after <bos>)."""
        m = self.emb["max_characters_per_token"]
        toks = ["<bos>"] + [t[: m - 2] for t in tokens] + ["<eos>"]
        x = [self.token(t) for t in toks]
        p, d = self.enc["projection_dim"], self.enc["dim"]
        state = dict(state or {})
        layers = [torch.stack([torch.cat([v, v]) for v in x])]
        inputs = {"forward": x, "backward": x[::-1]}
        final = {}
        for layer in range(self.enc["n_layers"]):
            outs = {}
            for direction in ("forward", "backward"):
                h0, c0 = state.get((layer, direction), (torch.zeros(p, dtype=torch.float64), torch.zeros(d, dtype=torch.float64)))
                out, h, c = self._run(f"{direction}_layer_{layer}", inputs[direction], h0, c0)
                final[(layer, direction)] = (h, c)
                if layer > 0:
                    out = [o + i for o, i in zip(out, inputs[direction])]
                outs[direction] = out
            inputs = outs
            layers.append(torch.stack([torch.cat([f, b]) for f, b in zip(outs["forward"], outs["backward"][::-1])]))
        return torch.stack(layers)[:, 1:-1].float().numpy(), final
