"""CUDA-only checks (marked `gpu`, skipped without a GPU): exact fp32 on CUDA
matches the CPU whatever the process-wide TF32 flags, and `embed` reproduces
the bilm-tf fixture on CUDA."""
import importlib.util

import numpy
import pytest
import torch

from spacy_elmo.bilm.chars import batch_to_ids

from helpers import ROOT, load_fixture_bilm, reference_batches, wikitext_sentences

pytestmark = pytest.mark.gpu
BENCH = ROOT / "benchmarks" / "bench_embed.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_embed", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def global_tf32(request):
    """The process-wide TF32 switches set as a user might have them."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = request.param
    yield request.param
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("global_tf32", [True, False], indirect=True)
def test_exact_fp32_on_cuda_matches_the_cpu(global_tf32):
    bench = _bench()
    model = bench.make_model("original")
    sentences = bench.wikitext_sentences(2000)[:64]
    assert len(sentences) == 64
    on_cpu, _ = model.embed_sentences(sentences, mode="reset")
    model.to("cuda")
    on_gpu, n_tokens = model.embed_sentences(sentences, mode="reset")
    assert n_tokens.tolist() == [len(s) for s in sentences]
    deviation = float((on_gpu.cpu() - on_cpu).abs().max())
    assert deviation <= 2e-5, deviation
    assert float(on_cpu.abs().max()) > 0.01  # real outputs, not zeros
    # the caller's flags are as they were
    assert torch.backends.cuda.matmul.allow_tf32 == global_tf32


def test_fixture_matches_bilm_tf_on_cuda(fixtures_dir):
    model = load_fixture_bilm().to("cuda")
    model.reset_carry()
    worst = 0.0
    for sentences, expected in reference_batches(fixtures_dir):
        layers, n_tokens = model.embed(batch_to_ids(sentences), mode="carry")
        for k in range(3):
            got = layers[k, -1, : n_tokens[k]].cpu().numpy()
            worst = max(worst, float(numpy.abs(got - expected[k]).max()))
    assert worst <= 1e-6, worst


def test_bench_pretrain_runs_on_cuda(tmp_path):
    """It crashed: init_like_bilm_tf drew from a CPU generator after .to(cuda)."""
    import subprocess
    import sys

    root = BENCH.parent.parent
    out = subprocess.run(
        [sys.executable, "benchmarks/bench_pretrain.py", "--gpu-id", "0", "--steps", "2", "--warmup", "1",
         "--lines", "500", "--precision", "bf16", "--anchor"],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "training step bf16" in out.stdout and "peak GPU memory" in out.stdout


def test_conv_max_on_cuda_matches_the_cpu():
    """The char CNN's training gradients through ConvMax on CUDA (index_add_
    with atomics, cuDNN's convolution) equal the CPU's to float32 rounding
    (not run yet: no GPU was lent when it was written)."""
    from spacy_elmo.bilm.char_cnn import CharCNN
    from spacy_elmo.bilm.chars import CharEncoder
    from spacy_elmo.bilm.config import BiLMConfig
    from spacy_elmo.bilm.precision import fp32_flags

    config = BiLMConfig(char_dim=16, filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256)), n_highway=1,
                        projection_dim=64)
    torch.manual_seed(0)
    cpu = CharCNN(config)
    cuda = CharCNN(config).cuda()
    cuda.load_state_dict(cpu.state_dict())
    words = sorted({w for sentence in wikitext_sentences(200) for w in sentence})
    ids = torch.from_numpy(CharEncoder(50).encode(words))

    def grads(cnn, ids):
        cnn.zero_grad()
        cnn(ids).pow(2).sum().backward()
        return [p.grad.detach().cpu() for p in cnn.parameters()]

    reference = grads(cpu, ids)
    with fp32_flags("fp32"):  # IEEE float32 on CUDA too
        ours = grads(cuda, ids.cuda())
    for a, b in zip(ours, reference):
        assert float((a - b).abs().max()) <= 1e-4 * max(1.0, float(b.abs().max()))
