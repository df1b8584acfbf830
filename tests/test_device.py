"""Device autodetection, the quick/full switch and seeding (ddpm_lite.device)."""

import pytest
import torch

import ddpm_lite
from ddpm_lite import device as dev


def test_autodetect_order(monkeypatch):
    monkeypatch.delenv("DDPM_LITE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ddpm_lite.pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert ddpm_lite.pick_device().type == "mps"
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert ddpm_lite.pick_device().type == "cpu"


def test_device_override_and_bad_values(monkeypatch):
    monkeypatch.setenv("DDPM_LITE_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert ddpm_lite.pick_device().type == "cpu"
    monkeypatch.setenv("DDPM_LITE_DEVICE", "tpu")
    with pytest.raises(ValueError, match="DDPM_LITE_DEVICE"):
        ddpm_lite.pick_device()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        ddpm_lite.pick_device("cuda")


def test_run_mode(monkeypatch):
    monkeypatch.delenv("DDPM_LITE_MODE", raising=False)
    assert ddpm_lite.run_mode(torch.device("cpu")) == "quick"
    assert ddpm_lite.run_mode(torch.device("cuda")) == "full"
    monkeypatch.setenv("DDPM_LITE_MODE", "FULL")
    assert ddpm_lite.run_mode(torch.device("cpu")) == "full"
    monkeypatch.setenv("DDPM_LITE_MODE", "fast")
    with pytest.raises(ValueError, match="DDPM_LITE_MODE"):
        ddpm_lite.run_mode("cpu")


def test_by_mode():
    assert ddpm_lite.by_mode(quick=1, full=2, mode="quick") == 1
    assert ddpm_lite.by_mode(quick=1, full=2, mode="full") == 2
    with pytest.raises(ValueError, match="mode"):
        ddpm_lite.by_mode(quick=1, full=2, mode="big")


def test_seed_everything_makes_runs_repeatable():
    g = ddpm_lite.seed_everything(3)
    first = (torch.randn(3), torch.randn(3, generator=g))
    g = ddpm_lite.seed_everything(3)
    second = (torch.randn(3), torch.randn(3, generator=g))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    with pytest.raises(ValueError, match="seed"):
        ddpm_lite.seed_everything(-1)
