"""The `elmo` pipeline component: runs the biLM over each Doc's sentences (or
fixed-size chunks) and stores all ELMo layers on the Doc."""
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import numpy
import torch
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.util import minibatch
from thinc.api import Config, Model, Optimizer, set_dropout_rate
from thinc.types import Floats3d

from ..errors import ElmoError, Errors
from ..models.bilm import find_bilm_node, get_bilm
from ..models.listener import ElmoListener
from .extensions import DATA_ATTR, install_extensions, mix_layers, set_user_hooks

DEFAULT_CONFIG_STR = """
[elmo]
mix = "average"
gamma = 1.0
set_doc_tensor = false
set_vector_hooks = false

[elmo.model]
@architectures = "spacy-elmo.ElmoEncoder.v1"
max_length = 256
token_budget = 4096

[elmo.model.bilm]
@architectures = "spacy-elmo.ElmoBiLM.v2"
weights = "default"
options_file = null
weight_file = null
state_mode = "warm"
fine_tune = false
learn_rate_scale = 1.0
precision = "fp32"
token_cache_size = 50000
strict = true
"""
DEFAULT_CONFIG = Config().from_str(DEFAULT_CONFIG_STR)


@Language.factory("elmo", default_config=DEFAULT_CONFIG["elmo"])
def make_elmo(
    nlp: Language,
    name: str,
    model: Model[List[Doc], List[Floats3d]],
    mix: Union[str, List[float]],
    gamma: float,
    set_doc_tensor: bool,
    set_vector_hooks: bool,
) -> "Elmo":
    """Construct the elmo component (see Elmo for the settings)."""
    return Elmo(
        nlp.vocab,
        model,
        name,
        mix=mix,
        gamma=gamma,
        set_doc_tensor=set_doc_tensor,
        set_vector_hooks=set_vector_hooks,
    )


_PARENT_PID = os.getpid()


def _guard_forked_process() -> None:
    """In a worker forked by nlp.pipe(n_process=N), torch's OpenMP pool from
    the parent is unusable (GNU OpenMP is not fork-safe: the first parallel
    op would hang). One intra-op thread per worker avoids it; the workers
    are the parallelism."""
    global _PARENT_PID
    if os.getpid() != _PARENT_PID:
        torch.set_num_threads(1)
        _PARENT_PID = os.getpid()


class Elmo(TrainablePipe):
    """Contextual token vectors from a character-CNN biLM (Peters et al. 2018),
    and the shared embedding layer that `spacy-elmo.ElmoListener.v1` layers of
    downstream components listen to (like spaCy's Tok2Vec).

    model (Model[List[Doc], List[Floats3d]]): a `spacy-elmo.ElmoEncoder.v1`.
    mix (Union[str, List[float]]): how token._.elmo mixes the layers:
        "average", "top", "concat" or explicit weights (one per layer, layer
        0 = char CNN), multiplied by `gamma`.
    set_doc_tensor (bool): also write the mixed vectors to doc.tensor.
    set_vector_hooks (bool): make token/span/doc .vector and .similarity use
        ELMo (hooks are not kept by Doc.to_bytes).
    """

    def __init__(
        self,
        vocab,
        model: Model,
        name: str = "elmo",
        *,
        mix: Union[str, List[float]] = "average",
        gamma: float = 1.0,
        set_doc_tensor: bool = False,
        set_vector_hooks: bool = False,
    ):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[ElmoListener]] = {}
        self.cfg: Dict[str, Any] = {
            "mix": mix,
            "gamma": gamma,
            "set_doc_tensor": set_doc_tensor,
            "set_vector_hooks": set_vector_hooks,
        }
        if not (mix in ("average", "top", "concat") or isinstance(mix, (list, tuple))):
            raise ElmoError(Errors.E031.format(mix=mix, n="n_layers + 1"))
        install_extensions()

    # Listener protocol (spaCy's ListenedToComponent), as in spacy.pipeline.Tok2Vec.
    @property
    def listeners(self) -> List[ElmoListener]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: ElmoListener, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)

    def remove_listener(self, listener: ElmoListener, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            return True
        return False

    def find_listeners(self, component) -> None:
        """Register the ElmoListener layers of `component` whose upstream is
        this component's name or "*"."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, ElmoListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    @property
    def n_layers(self) -> int:
        """ELMo layers (char CNN + LSTM layers)."""
        return get_bilm(self.model).config.n_elmo_layers

    def mix_weights(self) -> Optional[numpy.ndarray]:
        """Layer weights for token._.elmo (None: concatenate the layers)."""
        mix, n = self.cfg["mix"], self.n_layers
        if mix == "concat":
            return None
        if mix == "average":
            return numpy.full((n,), 1.0 / n, dtype=numpy.float32)
        if mix == "top":
            weights = numpy.zeros((n,), dtype=numpy.float32)
            weights[-1] = 1.0
            return weights
        if len(mix) != n:
            raise ElmoError(Errors.E031.format(mix=mix, n=n))
        return numpy.asarray(mix, dtype=numpy.float32)

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp=None):
        """Load the weights named in the config (no examples needed)."""
        self.model.initialize()

    def predict(self, docs: Iterable[Doc]) -> List[numpy.ndarray]:
        """All ELMo layers per Doc. *Shape:* (n_layers + 1, len(doc), dim)"""
        _guard_forked_process()
        outputs = self.model.predict(list(docs))
        return [self.model.ops.to_numpy(array) for array in outputs]

    def set_annotations(self, docs: Iterable[Doc], outputs: List[numpy.ndarray]) -> None:
        weights = self.mix_weights()
        gamma = float(self.cfg["gamma"])
        for doc, layers in zip(docs, outputs):
            data = {"layers": layers, "mix": weights, "gamma": gamma}
            doc._.set(DATA_ATTR, data)
            if self.cfg["set_doc_tensor"]:
                doc.tensor = mix_layers(data, layers)
            if self.cfg["set_vector_hooks"]:
                set_user_hooks(doc)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for docs in minibatch(stream, batch_size):
            docs = list(docs)
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Run the biLM on a batch and hand its layers to the listeners of
        downstream components. The biLM itself has no loss; it learns from the
        listeners' gradients only when `fine_tune` is on (frozen by default:
        then no autograd graph is built)."""
        if losses is None:
            losses = {}
        validate_examples(examples, "Elmo.update")
        docs = [eg.predicted for eg in examples]
        set_dropout_rate(self.model, drop)
        outputs, backprop_layers = self.model.begin_update(docs)
        losses.setdefault(self.name, 0.0)
        d_outputs = [self.model.ops.alloc3f(*o.shape) for o in outputs]
        fine_tune = find_bilm_node(self.model).attrs["fine_tune"]

        def accumulate_gradient(one_d_outputs):
            for i, grad in enumerate(one_d_outputs):
                d_outputs[i] += grad
                losses[self.name] += float((grad**2).sum())
            return [self.model.ops.alloc3f(*o.shape) for o in outputs]

        def backprop(one_d_outputs):
            accumulate_gradient(one_d_outputs)
            if fine_tune:
                backprop_layers(d_outputs)
                if sgd is not None:
                    self.finish_update(sgd)
            return []

        batch_id = ElmoListener.get_batch_id(docs)
        for listener in self.listeners[:-1]:
            listener.receive(batch_id, outputs, accumulate_gradient)
        if self.listeners:
            self.listeners[-1].receive(batch_id, outputs, backprop)
        return losses

    def add_label(self, label: str) -> int:
        raise NotImplementedError(Errors.E094.format(name=self.name))
