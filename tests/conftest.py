"""Shared test settings.

The tests use small tensors, for which torch's intra-op thread pool costs more than it
saves, and far more on a loaded 2-core machine (measured: a (32, 3) softmax took 8 ms with
two threads under load, 3 us with one). One thread keeps the suite fast and steady.
"""

import torch

torch.set_num_threads(1)
