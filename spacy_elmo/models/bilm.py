"""Thinc glue for the biLM: a Model that maps token sequences to ELMo layers.

The torch module lives in a PyTorchShim whose bytes carry the options as well
as the parameters, so a saved pipeline rebuilds the biLM without the original
options.json / weights.hdf5.
"""
import io
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

import spacy
import srsly
import torch
from spacy.util import registry
from thinc.api import Model, PyTorchShim, get_torch_default_device, torch2xp, xp2torch
from thinc.types import Floats3d

from ..bilm.config import BiLMConfig
from ..bilm.efml import EfmlBiLM
from ..bilm.model import DEFAULT_TOKEN_CACHE_SIZE, BiLM, check_state_mode, keeps_row_order
from ..bilm.precision import check_precision, fp32_flags, precision_scope
from ..errors import ElmoError, Errors
from ..io.efml import build_efml_bilm, parse_architecture
from ..io.pretrained import load_source
from ..io.resolve import resolve_model

InT = List[Sequence[str]]
OutT = List[Floats3d]  # per sequence (n_layers + 1, n_tokens, 2 * projection_dim)
KEY = "[components.elmo.model.bilm]"


@registry.architectures("spacy-elmo.ElmoBiLM.v2")
def build_elmo_bilm_v2(
    *,
    weights: Optional[str] = "default",
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    state_mode: str = "warm",
    fine_tune: bool = False,
    learn_rate_scale: float = 1.0,
    precision: str = "fp32",
    token_cache_size: int = DEFAULT_TOKEN_CACHE_SIZE,
    strict: bool = True,
) -> Model[InT, OutT]:
    """The character-CNN biLM of ELMo as a thinc Model.

    weights (Optional[str]): a preset name ("default", "small", "medium",
        "original", "original-5.5B"), a folder with options.json +
        weights.hdf5 (or bilm-tf's published names), a saved spaCy pipeline
        with an elmo component (io/resolve.py), or None when
        options_file/weight_file are given.
    options_file (Optional[str]): path or URL of options.json.
    weight_file (Optional[str]): path or URL of weights.hdf5.
    state_mode (str): "warm" (default), "reset" or "carry" (see bilm/model.py).
    fine_tune (bool): whether training updates the biLM (default: frozen).
    learn_rate_scale (float): when fine-tuning, the biLM's updates are this
        fraction of the optimizer's (its own learning rate: 0.1 = a tenth of
        [training.optimizer] learn_rate; exact for SGD and Adam).
    precision (str): "fp32" (exact, the default), "tf32", "bf16" or "fp16"
        (CUDA only), at inference and when fine-tuning (bilm/precision.py).
    token_cache_size (int): distinct tokens whose context-free (char-CNN)
        vectors are kept between batches at inference; 0 turns the cache off.
        Outputs are identical either way (bilm/token_cache.py).
    strict (bool): weights that hold LSTM layers, char-CNN filters or highway
        layers that options.json does not name are an error; false loads only
        what the options name, with a warning (io/weights.py).
    RETURNS (Model[List[Sequence[str]], List[Floats3d]]): per sequence, all
        ELMo layers (n_layers + 1, n_tokens, 2 * projection_dim).
    """
    check_state_mode(state_mode, KEY + " state_mode")
    check_precision(precision, KEY + " precision", "cuda")
    if not learn_rate_scale >= 0:
        raise ElmoError(Errors.E035.format(value=learn_rate_scale))
    if isinstance(token_cache_size, bool) or not isinstance(token_cache_size, int) or token_cache_size < 0:
        raise ElmoError(Errors.E060.format(key=KEY + " token_cache_size", value=token_cache_size))
    shim = ElmoShim(
        None,
        learn_rate_scale=learn_rate_scale,
        serialize_model=serialize_bilm,
        deserialize_model=deserialize_bilm,
    )
    return Model(
        "elmo_bilm",
        forward,
        init=init,
        shims=[shim],
        attrs={
            "weights": weights,
            "options_file": options_file,
            "weight_file": weight_file,
            "state_mode": state_mode,
            "fine_tune": fine_tune,
            "learn_rate_scale": learn_rate_scale,
            "precision": precision,
            "token_cache_size": token_cache_size,
            "strict": strict,
        },
    )


@registry.architectures("spacy-elmo.ElmoBiLM.v1")
def build_elmo_bilm_v1(
    *,
    weights: Optional[str] = "default",
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    state_mode: str = "warm",
    fine_tune: bool = False,
    learn_rate_scale: float = 1.0,
    mixed_precision: bool = False,
) -> Model[InT, OutT]:
    """ElmoBiLM.v2 with `mixed_precision` (a bool) for `precision`: true is
    "bf16", false "fp32". Arguments otherwise as in v2."""
    return build_elmo_bilm_v2(
        weights=weights, options_file=options_file, weight_file=weight_file,
        state_mode=state_mode, fine_tune=fine_tune, learn_rate_scale=learn_rate_scale,
        precision="bf16" if mixed_precision else "fp32",
    )


class ElmoShim(PyTorchShim):
    """PyTorchShim whose optimizer updates are scaled by `learn_rate_scale`
    (the biLM's own learning rate when fine-tuning)."""

    def __init__(self, model, *, learn_rate_scale: float = 1.0, **kwargs):
        super().__init__(model, **kwargs)
        self.learn_rate_scale = learn_rate_scale

    def finish_update(self, optimizer) -> None:
        # thinc's optimizers update the weights through numpy views, which
        # torch's version counters do not see: drop cached token vectors.
        self._model.clear_token_cache()
        scale = self.learn_rate_scale
        if scale == 1.0:
            return super().finish_update(optimizer)
        before = {
            name: p.data.detach().clone()
            for name, p in self._model.named_parameters()
            if p.grad is not None
        }
        super().finish_update(optimizer)
        with torch.no_grad():
            for name, param in self._model.named_parameters():
                if name in before:
                    old = before[name].to(param.device)
                    param.data = old + scale * (param.data - old)


def find_bilm_node(model: Model) -> Model:
    """The `elmo_bilm` node inside a model (the model itself, an encoder, ...)."""
    for node in model.walk():
        if node.name == "elmo_bilm":
            return node
    raise ElmoError(Errors.E036.format(name=model.name))


def get_bilm(model: Model) -> BiLM:
    """The torch BiLM inside a model (raises if weights are not loaded yet)."""
    bilm = find_bilm_node(model).shims[0]._model
    if bilm is None:
        raise ElmoError(Errors.E041)
    return bilm


def set_bilm(model: Model, bilm: BiLM) -> None:
    """Put a torch BiLM into the model (e.g. one trained in Python)."""
    shim = find_bilm_node(model).shims[0]
    shim._model = bilm.to(get_torch_default_device()).eval()


def init(model: Model, X: Optional[InT] = None, Y: Optional[OutT] = None) -> None:
    """Load the weights named in the config (once) and estimate the warm state."""
    if model.shims[0]._model is not None:
        return
    attrs = model.attrs
    bilm = load_named_bilm(
        attrs["weights"], options_file=attrs["options_file"], weight_file=attrs["weight_file"],
        strict=attrs.get("strict", True),
    )
    set_bilm(model, bilm)


def load_named_bilm(
    weights: Optional[str] = "default",
    *,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    strict: bool = True,
) -> BiLM:
    """The biLM a name names (`io.resolve.resolve_model`: a preset, a
    bilm-tf or ELMoForManyLangs folder, a pair of files, a saved spaCy
    pipeline), in eval mode with its warm state: what the component's
    weights, embed --weights, demo --weights and dump-token-embeddings
    MODEL_DIR all load.

    strict (bool): see `io.weights.load_bilm` (a saved pipeline's biLM
        carries its options, so there is nothing to check).
    """
    source = resolve_model(weights, options_file=options_file, weight_file=weight_file)
    if source.kind == "pipeline" and source.folder is not None:
        return bilm_of_pipeline(source.folder)
    return load_source(source, strict=strict)


def bilm_of_pipeline(path: Path) -> BiLM:
    """The biLM of a saved spaCy pipeline: its elmo component's (or the first
    component whose model holds one, e.g. an ElmoTok2Vec); E042 if none."""
    nlp = spacy.load(path)
    names = sorted(nlp.pipe_names, key=lambda name: nlp.get_pipe_meta(name).factory != "elmo")
    for name in names:
        component = nlp.get_pipe(name)
        model = getattr(component, "model", None)
        if isinstance(model, Model) and any(node.name == "elmo_bilm" for node in model.walk()):
            return get_bilm(model)
    raise ElmoError(Errors.E042.format(path=path, pipes=nlp.pipe_names))


def forward(model: Model[InT, OutT], X: InT, is_train: bool) -> Tuple[OutT, Callable]:
    bilm = get_bilm(model)
    mode, precision = model.attrs["state_mode"], model.attrs["precision"]
    check_precision(precision, KEY + " precision", bilm.device.type)
    if not (is_train and model.attrs["fine_tune"]):
        bilm.set_token_cache(model.attrs.get("token_cache_size", DEFAULT_TOKEN_CACHE_SIZE))
        layers, n_tokens = bilm.embed_sentences(X, mode=mode, precision=precision)
        return _split(model, layers, n_tokens), lambda dY: []
    # Fine-tuning: a differentiable pass (dropout on); the shim's finish_update
    # applies the optimizer to every parameter that received a gradient.
    _apply_fine_tune(bilm, True)
    bilm.train()
    state = bilm.initial_state("reset" if keeps_row_order(mode) else mode, len(X))
    with precision_scope(precision, bilm.device.type):
        layers, n_tokens, _ = bilm.elmo_layers(bilm.char_ids(X), state)
    layers = layers.float()

    def backprop(dY: OutT) -> List:
        grad = torch.zeros_like(layers)
        for i, dy in enumerate(dY):
            grad[i, :, : dy.shape[1]] = xp2torch(dy, device=grad.device)
        with fp32_flags(precision):  # the backward in the forward's precision, not cuDNN's default TF32
            torch.autograd.backward([layers], grad_tensors=[grad])
        return []

    return _split(model, layers.detach(), n_tokens), backprop


def _split(model: Model, layers: torch.Tensor, n_tokens: torch.Tensor) -> OutT:
    """(batch, L, seq, dim) tensor -> per row (L, n_tokens, dim) arrays."""
    # numpy on the CPU, cupy on a GPU
    arrays: Any = torch2xp(layers.float()) if layers.device.type != "cpu" else layers.float().numpy()
    return [arrays[i, :, : int(n)] for i, n in enumerate(n_tokens.tolist())]


def _apply_fine_tune(bilm: BiLM, fine_tune: bool) -> None:
    for param in bilm.parameters():
        param.requires_grad_(fine_tune)


def serialize_bilm(bilm: Optional[BiLM]) -> bytes:
    """Options + parameters + warm state, as bytes (torch.save of the state
    dict); an ELMoForManyLangs model saves its architecture file and both
    vocabularies instead of options, so it loads with no EFML files."""
    if bilm is None:
        raise ElmoError(Errors.E041)
    buffer = io.BytesIO()
    torch.save(bilm.state_dict(), buffer)
    if isinstance(bilm, EfmlBiLM):
        vocab = bilm.vocab
        efml = {"architecture": bilm.efml_architecture, "chars": vocab.chars, "words": vocab.words,
                "n_chars": vocab.n_chars, "n_words": vocab.n_words}
        return srsly.msgpack_dumps({"efml": efml, "state": buffer.getvalue()})
    return srsly.msgpack_dumps({"options": bilm.config.to_options(), "state": buffer.getvalue()})


def deserialize_bilm(bilm: Optional[BiLM], data: bytes, device: torch.device) -> BiLM:
    msg = srsly.msgpack_loads(data)
    if "efml" in msg:
        efml = msg["efml"]
        arch = parse_architecture(efml["architecture"], "serialized elmo model")
        bilm = build_efml_bilm(arch, efml["chars"], efml["words"], efml["n_chars"], efml["n_words"])
    else:
        config = BiLMConfig.from_options(msg["options"], path="serialized elmo model")
        if bilm is None or isinstance(bilm, EfmlBiLM) or bilm.config != config:
            bilm = BiLM(config)
    state = torch.load(io.BytesIO(msg["state"]), map_location=device, weights_only=True)
    bilm.load_state_dict(state)
    return bilm.to(device).eval()

