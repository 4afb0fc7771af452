"""The four CNNs of the paper.

CNN 1 (ResNet50) and CNN 2 (Xception) come from timm: convolutional part, global average pooling,
dense-256 ReLU, dense-37 ReLU and the GZ2 normalisation layer; the one-band image is repeated into
three channels so that ImageNet weights fit. CNN 3 is the Dieleman-style network of the paper's
Fig. 3. CNN 4 is CNN 1 with the normalisation replaced by dense-1, fine-tuned on M/L.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from mlpipe import gz2
from mlpipe.cnn.normalization import GZ2Normalisation

#: the timm model of each timm-built ``cnn.models.<name>.architecture``; with ``CUSTOM`` (the
#: Dieleman-style CNN 3) these are the architectures the schema's enum lists (a test keeps them equal)
TIMM_NAMES = {"resnet50": "resnet50", "xception": "legacy_xception"}
CUSTOM = "custom"
ARCHITECTURES = (*TIMM_NAMES, CUSTOM)


class MorphologyNet(nn.Module):
    """backbone -> pooled features -> dense-256 -> dense-37 (ReLU) -> GZ2 probabilities or M/L."""

    def __init__(self, backbone: nn.Module, n_pooled: int, task: str, hidden: int | None,
                 repeat_channels: bool) -> None:
        super().__init__()
        self.backbone = backbone
        layers: list[nn.Module] = [nn.Linear(n_pooled, hidden), nn.ReLU()] if hidden else []
        last = nn.Linear(hidden or n_pooled, gz2.N_ANSWERS)
        # Start every answer positive: a question whose ReLU outputs all start at zero would
        # pass no gradient through the normalisation and stay dead.
        nn.init.normal_(last.weight, std=0.01)
        nn.init.constant_(last.bias, 1.0)
        self.head = nn.Sequential(*layers, last, nn.ReLU())
        self.task = task   # what the output is: gz2 (37 GZ2 answer probabilities) or ml (M/L)
        self.output = GZ2Normalisation() if task == "gz2" else nn.Linear(gz2.N_ANSWERS, 1)
        self.repeat_channels = repeat_channels

    def forward_all(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every quantity the feature stores keep: pooled, the 37 next-to-last, the output."""
        x = images.expand(-1, 3, -1, -1) if self.repeat_channels else images
        pooled = self.backbone(x)
        # The small head in float32 even under bfloat16 autocast: the GZ2 answers of a question
        # then sum to 1 to float32 precision, and M/L keeps float32 resolution.
        with torch.autocast(pooled.device.type, enabled=False):
            hidden = self.head(pooled.float())
            out = self.output(hidden)
        return {"pooled": pooled, "hidden": hidden, "output": out if self.task == "gz2" else out[:, 0]}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.forward_all(images)["output"]


class DielemanBackbone(nn.Module):
    """CNN 3: 69 -> conv5 65 -> pool 32 -> conv4 29 -> pool 14 -> conv3 12 -> pool 6 -> conv3 4
    -> global max pool -> dense-512 (valid padding, Glorot-uniform initialisation)."""

    MIN_SIZE = 46

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.Conv2d(32, 64, 4), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.Conv2d(64, 128, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.Conv2d(128, 128, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            nn.Linear(128, 512), nn.ReLU())
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_pretrained(backbone: nn.Module, path: str) -> None:
    """Load a local timm state dict into the backbone; nothing is ever downloaded."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {file} (weights cannot be "
                                "downloaded here; give a local timm state-dict file, or null to "
                                "train from scratch)")
    state = torch.load(file, map_location="cpu", weights_only=True)
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if len(missing) > len(state) // 2:
        raise ValueError(f"{file} does not fit this backbone: {len(missing)} weights missing")


def build_model(*, architecture: str, image_size_px: int, task: str,
                pretrained_path: str | None = None) -> MorphologyNet:
    """A fresh network: ``architecture`` one of ``ARCHITECTURES``, for images (N, 1, S, S) of
    ``image_size_px`` = S; ``task`` gz2 (output (N, 37) GZ2 answer probabilities) or ml (output
    (N,) M/L); ``pretrained_path``: a local timm state dict for the backbone (timm networks only)."""
    if architecture == CUSTOM:
        if image_size_px < DielemanBackbone.MIN_SIZE:
            raise ValueError(f"the custom CNN needs images of at least {DielemanBackbone.MIN_SIZE} px "
                             f"(valid padding), got {image_size_px}")
        return MorphologyNet(DielemanBackbone(), 512, task, hidden=None, repeat_channels=False)
    import timm  # here, not at the top: importing it takes seconds, which a job of the custom CNN never needs

    backbone = timm.create_model(TIMM_NAMES[architecture], pretrained=False, num_classes=0,
                                 global_pool="avg", in_chans=3)
    if pretrained_path:
        load_pretrained(backbone, pretrained_path)
    return MorphologyNet(backbone, backbone.num_features, task, hidden=256, repeat_channels=True)


def model_from_config(model_cfg: Mapping[str, Any], *, pretrained: bool = True) -> MorphologyNet:
    """A fresh network for one entry of ``cnn.models`` (its ``pretrained`` weights loaded unless
    ``pretrained`` is False: a trained model's own weights follow)."""
    return build_model(architecture=model_cfg["architecture"], image_size_px=model_cfg["image_size"],
                       task=model_cfg["target"], pretrained_path=model_cfg.get("pretrained") if pretrained else None)


def init_from(model: MorphologyNet, donor_state: Mapping[str, torch.Tensor]) -> None:
    """Start CNN 4 from CNN 1: copy backbone and head; the M/L output layer stays new."""
    keep = {k: v for k, v in donor_state.items() if k.startswith(("backbone.", "head."))}
    model.load_state_dict(keep, strict=False)
