"""Toy networks of the tests, defined once: per task a small well-formed model, then the models
that break a contract on purpose (what a check must catch or a fallback must handle).

The next tasks add theirs here (a detector returning boxes).
"""

from __future__ import annotations

import torch

NUM_CLASSES = 10
# One preprocessed image as the C++ programs and the workers take it (batch dimension 1).
IMAGE_SHAPE = (1, 3, 16, 16)


# ---- classification: images (NCHW) in, [N, NUM_CLASSES] logits out -------------------------------


def classifier(seed: int) -> torch.nn.Module:
    """The smallest image classifier worth deploying: conv, pooling, linear head."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, NUM_CLASSES),
    ).eval()


def conv_bn_classifier(seed: int) -> torch.nn.Module:
    """A conv + batch-norm classifier in eval mode: what freezing and compilers fold, unlike
    ``classifier``."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, NUM_CLASSES),
    ).eval()


class ResidualClassifier(torch.nn.Module):
    """A stem and one residual block laid out as torchvision's BasicBlock (one ReLU module called
    after the first convolution and after the skip connection), pooled into NUM_CLASSES logits:
    what the int8 paths must quantize (conv, batch norm, a shared ReLU, an addition, linear)."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.conv1, self.bn1 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.head = nn.Linear(16, NUM_CLASSES)

    def forward(self, x):
        identity = self.stem(x)
        out = self.relu(self.bn1(self.conv1(identity)))
        out = self.relu(self.bn2(self.conv2(out)) + identity)
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(out, 1), 1))


def residual_classifier(seed: int) -> torch.nn.Module:
    """ResidualClassifier with batch-norm statistics of its own activations (a cumulative average
    over one batch): with the defaults (0, 1) the activations drift in scale layer by layer."""
    torch.manual_seed(seed)
    model = ResidualClassifier()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32))
    return model.eval()


def linear_classifier(in_features: int, classes: int = NUM_CLASSES) -> torch.nn.Module:
    """Flatten + one linear layer: the cheapest model of a given input size."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_features, classes)).eval()


class TupleModel(torch.nn.Module):
    """Returns its logits twice in a tuple, as googlenet and inception_v3 do when scripted."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.linear(x.mean(dim=(2, 3)))
        return y, y


# ---- video classification: clips (NCTHW) in, [N, NUM_CLASSES] logits out ---------------------------

# One preprocessed clip (batch 1): 4 frames of 16 x 16 px.
CLIP_SHAPE = (1, 3, 4, 16, 16)


def video_classifier(seed: int) -> torch.nn.Module:
    """The smallest video classifier: 3-D convolution (5-D weights), batch norm, pooling over
    time and space, linear head."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(3, 4, 3),
        torch.nn.BatchNorm3d(4),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool3d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, NUM_CLASSES),
    )
    # Non-trivial running statistics, so that folding the batch norm is checked.
    model[1].running_mean.uniform_(-0.5, 0.5)
    model[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


# ---- segmentation: images (NCHW) in, a dict with "out" [N, SEGMENTATION_CLASSES, H, W] out ----------

# The VOC label set torchvision's segmentation weights predict.
SEGMENTATION_CLASSES = 21


class Segmenter(torch.nn.Module):
    """Per-pixel logits from two convolutions, returned as torchvision's segmentation models do:
    a dict with "out" (and "aux", which deployments leave out)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
        self.classifier = torch.nn.Conv2d(8, SEGMENTATION_CLASSES, 1)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.features(x)
        return {"out": self.classifier(features), "aux": features}


# ---- inputs of other ranks and counts (what the task seam must carry) ----------------------------


class ClipClassifier(torch.nn.Module):
    """Logits of a batch of clips (NCTHW), like torchvision's video classifiers."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=(2, 3, 4)))


class SequenceClassifier(torch.nn.Module):
    """Logits of a batch of 1-D signals (NCL)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.mean(dim=2))


class TwoInputs(torch.nn.Module):
    """Two inputs and two outputs (an optical-flow-like pair in, a flow and a score out)."""

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        difference = first - 2 * second
        return difference, difference.mean(dim=(1, 2, 3))


# ---- contract breakers -----------------------------------------------------------------------------


class FlatModel(torch.nn.Module):
    """Returns a 1-D tensor: not [N, C] logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten()


class BatchDependent(torch.nn.Module):
    """Takes a different path for a batch of one: a trace records only the path it saw."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1:
            return x.flatten(1)
        return 2 * x.flatten(1)


class FailsOnRun(torch.nn.Module):
    """Loads, then fails on the first forward, as the oneDNN fuser does on swin_t's graphs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("vector::_M_range_check: __n (which is 0) >= this->size() (which is 0)")


class DataDependent(torch.nn.Module):
    """Python control flow on a tensor's value: torch.export cannot make one graph of it."""

    def forward(self, x):
        if x.sum() > 0:
            return x.flatten(1)[:, :10]
        return -x.flatten(1)[:, :10]


class StridedSegmenter(torch.nn.Module):
    """Per-pixel logits computed at half resolution and resized back to the input's H and W, as
    torchvision's segmentation models do (so an export that fixed H or W would show)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU())
        self.classifier = torch.nn.Conv2d(8, SEGMENTATION_CLASSES, 1)
        self.eval()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.classifier(self.features(x))
        out = torch.nn.functional.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return {"out": out}


# ---- optical flow: two images (NCHW each) in, a list of flows [N, 2, H, W] out -------------------


class FlowEstimator(torch.nn.Module):
    """A flow from a pair of images, refined ``num_flow_updates`` times (12 by default) and
    returned as a list of every step's flow, the last the answer, as torchvision's RAFT does
    (scriptable, traceable)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = torch.nn.Conv2d(6, 2, 3, padding=1)
        self.update = torch.nn.Conv2d(2, 2, 3, padding=1)
        self.eval()

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, num_flow_updates: int = 12) -> list[torch.Tensor]:
        flow = self.encoder(torch.cat([image1, image2 - image1], dim=1))
        flows = []
        for _ in range(num_flow_updates):
            flow = flow + 0.5 * torch.tanh(self.update(flow))
            flows.append(flow)
        return flows


class ToyMaskDetector(torch.nn.Module):
    """A detector's output contract (tvdeploy.tasks.detection.OneImageDetections) on a [C, H, W]
    image: three detections (labels 1, 2, 4) whose boxes, scores and soft masks follow the image."""

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        mean = image.mean()
        boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 8.0, 8.0], [1.0, 5.0, 6.0, 9.0]]) * (1 + mean)
        scores = torch.sigmoid(image[0, :3, 0])
        masks = image[:1].expand(3, -1, -1).unsqueeze(1) * torch.tensor([0.5, 1.0, 1.5]).reshape(3, 1, 1, 1)
        return [boxes, torch.tensor([1, 2, 4]), scores, masks]
