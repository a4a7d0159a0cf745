"""spacy_elmo/device.py: one meaning of --gpu-id (GPU gpu_id + LOCAL_RANK
under torchrun), the chosen GPU made the current CUDA device; on CPU with a
stand-in for CUDA's device count and set_device."""
import pytest
import torch
from typer.testing import CliRunner

from spacy_elmo import device
from spacy_elmo.cli._app import app
from spacy_elmo.device import Placement, place, torchrun_ranks, use_device
from spacy_elmo.errors import ElmoError

TORCHRUN = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}


def test_ranks_without_and_under_torchrun():
    assert torchrun_ranks({}) == (0, 1, 0)
    assert torchrun_ranks(TORCHRUN) == (3, 4, 1)


def test_cpu_keeps_the_ranks():
    assert place(-1, TORCHRUN) == Placement(3, 4, 1, torch.device("cpu"))


@pytest.mark.parametrize("gpu_id,env,index", [(0, {}, 0), (1, {}, 1), (0, TORCHRUN, 1), (2, TORCHRUN, 3)])
def test_gpu_is_gpu_id_plus_local_rank(gpu_id, env, index):
    assert place(gpu_id, env, device_count=4).device == torch.device("cuda", index)


def test_a_gpu_that_is_not_there_is_an_error_naming_it():
    with pytest.raises(ElmoError, match=r"--gpu-id 2 \+ LOCAL_RANK 1: there is no CUDA device 3 \(this process sees 2\)"):
        place(2, TORCHRUN, device_count=2)
    with pytest.raises(ElmoError, match=r"--gpu-id 0: there is no CUDA device 0 \(this process sees 0\)"):
        place(0, {}, device_count=0)


def test_use_device_makes_the_gpu_current(monkeypatch):
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    assert use_device(0, TORCHRUN).device == torch.device("cuda", 1)
    assert current == [torch.device("cuda", 1)]
    use_device(-1, TORCHRUN)
    assert current == [torch.device("cuda", 1)]  # the CPU sets nothing


def test_every_command_reads_gpu_id_the_same_way(monkeypatch, tmp_path):
    """pretrain and evaluate-lm as embed: GPU gpu_id + LOCAL_RANK, checked first."""
    monkeypatch.setattr(device, "place", lambda gpu_id, env=None: place(gpu_id, TORCHRUN, device_count=2))
    runner = CliRunner()
    for args in (["pretrain", "configs/bilm_tiny.cfg", str(tmp_path / "out"), "--paths.train", "configs/bilm_tiny.cfg"],
                 ["evaluate-lm", "configs", "configs/bilm_tiny.cfg"],
                 ["embed", "configs/bilm_tiny.cfg", str(tmp_path / "o.hdf5")]):
        result = runner.invoke(app, [*args, "--gpu-id", "1"])
        assert result.exit_code == 1, (args, result.output)
        assert "there is no CUDA device 2" in " ".join(result.output.split()), (args, result.output)
    assert not (tmp_path / "out").exists()
