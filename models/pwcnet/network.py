"""PWC-Net (PWC-DC-Net of Sun et al., CVPR 2018), layer for layer the official PyTorch network.

The network estimates optical flow coarse to fine. A six-level feature pyramid is computed for
both frames with shared weights; at each level from 6 (1/64 resolution) to 2 (1/4) the second
frame's features are warped by the upsampled flow of the level above, a cost volume against the
first frame's features is built, and a DenseNet-connected estimator predicts the flow of that
level. A dilated-convolution context network refines the level-2 flow.

Two entry points:

* :meth:`PWCNet.forward_levels` - the raw network, for training: RGB images whose sides are
  multiples of 64 in, flows of levels 2..6 out, in the network's own units (1/20 pixel).
* :meth:`PWCNet.forward` - for users: RGB images in [0, 1] of any size in, flow in pixels at
  full resolution out, with the pre- and post-processing of the script the weights were
  published with (``pipeline``, see :mod:`zoo.models.pwcnet.pipeline`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.pwcnet.cost_volume import cost_volume, num_displacements
from zoo.models.pwcnet.pipeline import STRIDE, pipeline_named
from zoo.models.pwcnet.warp import warp

__all__ = [
    "CONTEXT_DILATIONS",
    "ESTIMATOR_WIDTHS",
    "FLOW_SCALE",
    "LEVELS",
    "PYRAMID_CHANNELS",
    "RANGE_MARGIN",
    "STRIDE",
    "PWCNet",
]

#: The network predicts flow divided by this factor ("div_flow" of the official code).
FLOW_SCALE = 20.0
#: Feature channels of pyramid levels 1..6 (strides 2, 4, ..., 64).
PYRAMID_CHANNELS = (16, 32, 64, 96, 128, 196)
#: Output channels of the five densely connected convolutions of every flow estimator.
ESTIMATOR_WIDTHS = (128, 128, 96, 64, 32)
#: (output channels, dilation) of the context network's convolutions before its flow head.
CONTEXT_DILATIONS = ((128, 1), (128, 2), (128, 4), (96, 8), (64, 16), (32, 1))
#: Levels with a flow estimator, coarse to fine.
LEVELS = (6, 5, 4, 3, 2)
#: :meth:`PWCNet.forward` accepts values this far outside [0, 1] (float rounding of resized frames).
RANGE_MARGIN = 1e-3
NEGATIVE_SLOPE = 0.1
#: Largest cost-volume search radius accepted (px at each level); the paper uses 4. Radius d makes
#: (2d + 1)^2 volume channels, so a value from a hostile file could otherwise take gigabytes.
MAX_DISPLACEMENT_LIMIT = 16


def _check_values(name: str, image: torch.Tensor) -> None:
    """Refuse non-finite values and values outside [0, 1] (beyond :data:`RANGE_MARGIN`)."""
    # one min/max reduction: 0.36 ms for both frames at 436x1024, 0.013 % of the 2.7 s forward (1 CPU thread)
    low, high = (float(value) for value in torch.aminmax(image))
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values")
    if low < -RANGE_MARGIN or high > 1 + RANGE_MARGIN:
        hint = " (8-bit values? divide by 255)" if high > 1 else ""
        raise ValueError(f"{name} must hold RGB values in [0, 1], found the range [{low:g}, {high:g}]{hint}")


class ConvLeakyReLU(nn.Conv2d):
    """3x3 convolution (padding = dilation, so the size is kept at stride 1) + LeakyReLU(0.1)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(super().forward(x), NEGATIVE_SLOPE, inplace=True)


def flow_head(in_channels: int) -> nn.Conv2d:
    """3x3 convolution to the two flow channels (u, v), no activation."""
    return nn.Conv2d(in_channels, 2, 3, padding=1)


def upsampler(in_channels: int) -> nn.ConvTranspose2d:
    """Learned x2 upsampling to 2 channels (4x4 transposed convolution, stride 2, padding 1)."""
    return nn.ConvTranspose2d(in_channels, 2, 4, stride=2, padding=1)


class FeaturePyramid(nn.Module):
    """Six levels of three 3x3 convolutions each; the first of each level has stride 2.

    Under autocast the pyramid still runs in the dtype of its weights (float32): it is 6 % of the
    network's FLOPs but, in bfloat16, causes half of the flow error of a bf16 forward.
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        levels = []
        for channels in PYRAMID_CHANNELS:
            levels.append(nn.Sequential(
                ConvLeakyReLU(in_channels, channels, stride=2),
                ConvLeakyReLU(channels, channels),
                ConvLeakyReLU(channels, channels),
            ))
            in_channels = channels
        self.levels = nn.ModuleList(levels)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> features of levels 1..6, level l of shape (N, PYRAMID_CHANNELS[l-1], H/2^l, W/2^l)."""
        features = []
        x = images
        with torch.autocast(images.device.type, enabled=False):
            for level in self.levels:
                x = level(x)
                features.append(x)
        return features


class FlowEstimator(nn.Module):
    """The flow decoder of one level: five densely connected convolutions, a flow head, and
    (except at the finest level) learned upsamplers of the flow and of the features.

    Dense connection: each convolution's output is concatenated in front of its input,
    ``x = cat([conv(x), x])``, so the flow head sees ``in_channels + sum(ESTIMATOR_WIDTHS)`` channels.
    """

    def __init__(self, in_channels: int, upsample: bool) -> None:
        super().__init__()
        convs = []
        for width in ESTIMATOR_WIDTHS:
            convs.append(ConvLeakyReLU(in_channels, width))
            in_channels += width
        self.convs = nn.ModuleList(convs)
        self.out_channels = in_channels
        self.predict_flow = flow_head(in_channels)
        self.upsample_flow = upsampler(2) if upsample else None
        self.upsample_features = upsampler(in_channels) if upsample else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, in, h, w) -> (raw flow (B, 2, h, w), dense features (B, out_channels, h, w))."""
        for conv in self.convs:
            x = torch.cat((conv(x), x), dim=1)
        return self.predict_flow(x), x


class ContextNetwork(nn.Sequential):
    """Dilated convolutions (dilations 1, 2, 4, 8, 16, 1) and a flow head: a residual for flow 2."""

    def __init__(self, in_channels: int) -> None:
        layers: list[nn.Module] = []
        for channels, dilation in CONTEXT_DILATIONS:
            layers.append(ConvLeakyReLU(in_channels, channels, dilation=dilation))
            in_channels = channels
        layers.append(flow_head(in_channels))
        super().__init__(*layers)


class PWCNet(nn.Module):
    """PWC-DC-Net.

    Args:
        context: with the dilated context network refining flow 2 (the official PWC-DC-Net); False
            gives ptlflow's ``pwcnet_nodc`` variant, which stops at the estimator's flow 2.
        channel_order: colour order the weights expect at the first convolution, ``"BGR"`` (every
            published weight set) or ``"RGB"``; inputs are always RGB and are reordered inside.
        max_displacement: search radius of the cost volume in pixels of each level (4: 81 channels).
        pipeline: the steps around the network in :meth:`forward` and the warp's mask rule, as the
            script the weights were published with runs them: ``"nvlabs"`` (default, also ours),
            ``"sniklaus"``, ``"ptlflow"`` or ``"ptlflow-nodc"`` (:data:`zoo.models.pwcnet.pipeline.PIPELINES`).

    Attributes:
        check_values: :meth:`forward` refuses non-finite frames and values outside [0, 1] (True by
            default). The check reads a min/max back to the host, a synchronisation that stalls a
            GPU training loop; :class:`zoo.supervision.FlowSupervisor` turns it off.
    """

    check_values: bool = True

    def __init__(self, context: bool = True, channel_order: str = "BGR", max_displacement: int = 4,
                 pipeline: str = "nvlabs") -> None:
        super().__init__()
        if not isinstance(context, bool):  # a JSON "false" is a true string
            raise ValueError(f"context must be true or false, got {context!r}")
        if channel_order not in ("BGR", "RGB"):
            raise ValueError(f"channel_order must be 'BGR' or 'RGB', got {channel_order!r}")
        if not isinstance(max_displacement, int) or not 1 <= max_displacement <= MAX_DISPLACEMENT_LIMIT:
            raise ValueError(f"max_displacement must be an int in [1, {MAX_DISPLACEMENT_LIMIT}] (the paper "
                             f"uses 4), got {max_displacement!r}")
        self.channel_order = channel_order
        self.max_displacement = max_displacement
        self.pipeline = pipeline_named(pipeline)
        self.features = FeaturePyramid()
        volume = num_displacements(max_displacement)
        estimators = {}
        for level in LEVELS:
            inputs = volume if level == LEVELS[0] else volume + PYRAMID_CHANNELS[level - 1] + 4
            estimators[str(level)] = FlowEstimator(inputs, upsample=level != LEVELS[-1])
        self.decoders = nn.ModuleDict(estimators)
        self.context = ContextNetwork(self.decoders[str(LEVELS[-1])].out_channels) if context else None

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """RGB -> the weights' channel order, dtype and memory format of the first convolution."""
        if self.channel_order == "BGR":
            images = images.flip(1)
        weight = self.features.levels[0][0].weight
        images = images.to(dtype=weight.dtype, device=weight.device)
        if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Features of levels 1..6 of one batch of RGB frames (B, 3, H, W) in [0, 1] (see :class:`FeaturePyramid`)."""
        return self.features(self._prepare(image))

    def forward_levels(self, image1: torch.Tensor, image2: torch.Tensor) -> list[torch.Tensor]:
        """The raw network (training mode of the official code).

        Args:
            image1, image2: (B, 3, H, W) RGB frames in [0, 1], H and W multiples of 64.

        Returns:
            ``[flow2, flow3, flow4, flow5, flow6]``: flow of level l is (B, 2, H/2^l, W/2^l) in
            units of 1/20 pixel of the input resolution (multiply by :data:`FLOW_SCALE` for pixels);
            flow2 includes the context network's refinement.
        """
        if image1.shape != image2.shape or image1.dim() != 4 or image1.shape[1] != 3:
            raise ValueError(f"forward_levels: expected two (B, 3, H, W) images of one shape, "
                             f"got {tuple(image1.shape)} and {tuple(image2.shape)}")
        height, width = image1.shape[-2:]
        if height % STRIDE or width % STRIDE:
            raise ValueError(f"forward_levels: height and width must be multiples of {STRIDE}, got {height}x{width}; "
                             f"use forward() for images of any size")
        # one frame at a time: on CPU a batch of both frames is slower (the large maps of the first
        # levels no longer fit the caches)
        return self.estimate_levels(self.pyramid(image1), self.pyramid(image2))

    def estimate_levels(self, pyramid1: list[torch.Tensor], pyramid2: list[torch.Tensor]) -> list[torch.Tensor]:
        """The flow estimators, coarse to fine, on both frames' pyramids (:meth:`pyramid`).

        Returns the flows of levels 2..6 as :meth:`forward_levels` does (which checks the images
        and calls this); for training code that also uses the features.
        """
        flows = []
        up_flow = up_features = None
        for level in LEVELS:
            decoder = self.decoders[str(level)]
            features1, features2 = pyramid1[level - 1], pyramid2[level - 1]
            if up_flow is not None:
                features2 = warp(features2, up_flow * (FLOW_SCALE / 2 ** level), self.pipeline.warp_mask)
            volume = F.leaky_relu(cost_volume(features1, features2, self.max_displacement), NEGATIVE_SLOPE)
            if up_flow is None:
                x = volume
            else:
                # one dtype for the estimator input: under autocast the volume is already in the low
                # precision, and a float32 member would make every dense concatenation float32 again
                x = torch.cat([t.to(volume.dtype) for t in (volume, features1, up_flow, up_features)], dim=1)
            flow, x = decoder(x)
            if decoder.upsample_flow is not None:
                up_flow = decoder.upsample_flow(flow)
                up_features = decoder.upsample_features(x)
            elif self.context is not None:
                flow = flow + self.context(x)
            flows.append(flow)
        return flows[::-1]

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        """Flow from ``image1`` to ``image2`` in pixels, at the images' resolution.

        The pipeline of the script the weights were published with (``self.pipeline``, see
        :mod:`zoo.models.pwcnet.pipeline`): resize both frames to the next multiples of 64
        (bilinear), run the network, multiply flow 2 by 20, bring it to the input size
        (bilinear) and scale u by W / W64 and v by H / H64.

        Documented conversions: a single-channel (grayscale) image is repeated to 3 channels;
        except with the ``sniklaus`` pipeline (which stretches, as its script), a side shorter
        than 64 pixels is padded (edge replication) to 64 instead of being stretched, and the
        flow is cropped back.

        Args:
            image1, image2: (B, 3, H, W) or (B, 1, H, W) RGB frames, float in [0, 1].

        Returns:
            (B, 2, H, W) flow (u, v) in pixels, u to the right, v down; float32 unless the
            network runs in float64.

        Raises:
            ValueError: for shapes that differ or are not (B, 1|3, H, W), non-finite values, or
                values outside [0, 1] by more than :data:`RANGE_MARGIN` (the message gives the
                range found: [0, 255] is 8-bit input). Values are not checked under
                ``torch.compile`` / ``torch.export``, nor when ``check_values`` is False.
        """
        image1, image2 = (self._check_image(name, image) for name, image in (("image1", image1), ("image2", image2)))
        if image1.shape != image2.shape:
            raise ValueError(f"image1 and image2 must have the same shape, got {tuple(image1.shape)} and {tuple(image2.shape)}")
        weight = self.features.levels[0][0].weight
        image1, image2 = (image.to(dtype=weight.dtype, device=weight.device) for image in (image1, image2))
        height, width = image1.shape[-2:]
        pad_h, pad_w = max(STRIDE - height, 0), max(STRIDE - width, 0)
        if self.pipeline.pad_small_frames and (pad_h or pad_w):
            image1, image2 = (F.pad(image, (0, pad_w, 0, pad_h), mode="replicate") for image in (image1, image2))
        flow = self._full_resolution_flow(image1, image2)
        return flow[:, :, :height, :width]

    def _full_resolution_flow(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        size = tuple(image1.shape[-2:])
        network_size = self.pipeline.network_size(*size)
        image1, image2 = (self.pipeline.resize_frames(image, network_size) for image in (image1, image2))
        flow2 = self.forward_levels(image1, image2)[0]
        flow2 = flow2.to(torch.promote_types(flow2.dtype, torch.float32))
        return self.pipeline.flow_to_frames(flow2 * FLOW_SCALE, network_size, size)

    def _check_image(self, name: str, image: torch.Tensor) -> torch.Tensor:
        if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] not in (1, 3):
            shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"{name} must be a (B, 3, H, W) RGB (or (B, 1, H, W) grayscale) tensor, got {shape}")
        if not image.is_floating_point():
            raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype}")
        if image.numel() == 0:
            raise ValueError(f"{name} holds no pixels: a batch of at least one image of at least 1x1 px, got "
                             f"{tuple(image.shape)}")
        # a value check is data-dependent control flow: not traceable, and a host synchronisation
        if self.check_values and not torch.compiler.is_compiling():
            _check_values(name, image)
        return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image
