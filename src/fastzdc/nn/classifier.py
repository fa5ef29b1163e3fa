"""A small CNN for the classifier two-sample test (:func:`fastzdc.evaluation.classifier_auc_images`)."""

from __future__ import annotations

import torch
from torch import nn


class ShowerCNN(nn.Module):
    """The image classifier of the two-sample test: ``(log1p image / 4, log1p photon sum / 8)`` -> logit.

    The image and its lit-fibre mask are folded 2x2 into 8 channels, two convolutions, then the mean
    and the maximum of each of the 32 maps and the photon sum go through one linear layer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.head = nn.Linear(65, 1)

    def forward(self, x: torch.Tensor, tot: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pixel_unshuffle(torch.cat([x, (x > 0).to(x.dtype)], dim=1), 2)
        x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2, ceil_mode=True)
        x = torch.relu(self.conv2(x))
        x = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), tot], dim=1)
        return self.head(x).squeeze(1)

