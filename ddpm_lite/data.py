"""Image data for the lessons, scaled to [-1, 1] as in Ho et al. 2020 (Sec. 4).

`digits()` is scikit-learn's bundled copy of the UCI handwritten digits: 1,797 real 8x8
images that need no download. Their pixels take only 17 grey levels (0..16), which matters
when computing bits per dimension (lesson 03 and 07).
"""

from __future__ import annotations

import torch
from torch import Tensor

DIGIT_LEVELS = 17


def digits() -> tuple[Tensor, Tensor]:
    """The 8x8 digits as float32 images in [-1, 1] of shape (1797, 1, 8, 8), and int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32)           # (N, 8, 8), 0..16
    images = images / (DIGIT_LEVELS - 1) * 2 - 1                           # 17 levels in [-1, 1]
    return images.unsqueeze(1), torch.as_tensor(bunch.target, dtype=torch.int64)
