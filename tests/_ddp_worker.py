"""Test helper run by torchrun (tests/test_ddp.py): `python -m ddpm_lite train` with every call of
`save_checkpoint` recorded as "<rank>" in OUT_DIR/writers.txt, to show that only rank 0 writes."""

import os
import sys

from ddpm_lite import checkpoint
from ddpm_lite.cli import main

_save = checkpoint.save_checkpoint


def recording_save(out_dir, **kw):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "writers.txt"), "a") as f:
        f.write(f"{os.environ['RANK']}\n")
    return _save(out_dir, **kw)


checkpoint.save_checkpoint = recording_save
sys.exit(main(["train", *sys.argv[1:]]))
