"""Test helper: `python tests/_train_slowly.py SECONDS <train flags>` runs `python -m ddpm_lite train`
with a pause after every step and prints "step N" as each finishes, so that a test can watch
the run and kill or interrupt it part-way (tests/test_train.py)."""

import importlib
import sys
import time

from ddpm_lite.cli import main

train_module = importlib.import_module(
    "ddpm_lite.train"
)  # the module; ddpm_lite.train is the function

pause = float(sys.argv[1])
_step = train_module._train_step


def slow_step(run, step):
    loss = _step(run, step)
    print(f"step {step}", flush=True)
    time.sleep(pause)
    return loss


train_module._train_step = slow_step
sys.exit(main(["train", *sys.argv[2:]]))
