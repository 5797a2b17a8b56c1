"""Classical optical flow from OpenCV, the baselines the zoo's figures stand beside: Farneback
(2003) and DIS at its medium preset (Kroeger et al. 2016). Both take (3, H, W) RGB in [0, 1] and
return (2, H, W) flow in pixels, computed on 8-bit gray as OpenCV's methods work."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["dis_medium", "farneback", "gray_u8"]


def gray_u8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) RGB in [0, 1] -> (H, W) uint8 gray, as OpenCV's flow methods take frames."""
    import cv2

    rgb = (image.permute(1, 2, 0).numpy() * 255).round().clip(0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def farneback(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """OpenCV's Farneback flow with the parameters of OpenCV's own optical-flow tutorial
    (pyramid scale 0.5, 3 levels, window 15, 3 iterations, polynomial 5 / 1.2), on 8-bit gray."""
    import cv2

    flow = cv2.calcOpticalFlowFarneback(gray_u8(image1), gray_u8(image2), None, 0.5, 3, 15, 3, 5, 1.2, 0)
    return torch.from_numpy(flow).permute(2, 0, 1)


def dis_medium(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """OpenCV's DIS flow (Kroeger et al. 2016) at its medium preset, on 8-bit gray."""
    import cv2

    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(gray_u8(image1), gray_u8(image2), None)
    return torch.from_numpy(flow).permute(2, 0, 1)
