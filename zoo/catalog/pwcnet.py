"""PWC-Net: the architecture and every published weight set.

All published weights descend from the authors' Caffe models (converted to PyTorch by NVlabs,
by sniklaus, and retrained or repackaged by ptlflow) and carry NVIDIA's licence for PWC-Net:
non-commercial use, share-alike. Each record's config names what its publishing script feeds
the network and how it processes frames and flow (``channel_order`` and ``pipeline``, see
:mod:`zoo.models.pwcnet.pipeline`), so that each file gives the flow its source gives:

- NVlabs and sniklaus: BGR at the first convolution, their scripts' resizes; sniklaus' warp
  keeps border samples at coverage > 0.999 instead of >= 0.9999.
- ptlflow 0.4.2: frames are read BGR (OpenCV); its ``pwcnet`` (the context model, files
  ``pwcdcnet-*``) flips them and so feeds RGB, with ``align_corners=True`` resizes; its
  ``pwcnet_nodc`` (files ``pwcnet-*``) feeds BGR. Both upsample flow 2 x4 before resizing back.
  ptlflow's published figures were measured through that pipeline.

``PWCNet.forward`` takes RGB and reorders it where the weights expect BGR.
"""

from __future__ import annotations

from zoo.catalog.measured import measured_fields
from zoo.catalog.records import OPTICAL_FLOW, Architecture, WeightsInfo

PAPER = ("Deqing Sun, Xiaodong Yang, Ming-Yu Liu, Jan Kautz. PWC-Net: CNNs for Optical Flow Using "
         "Pyramid, Warping, and Cost Volume. CVPR 2018. arXiv:1709.02371")
LICENSE = "CC BY-NC-SA 4.0 (NVIDIA PWC-Net licence: non-commercial, share-alike)"
NUM_PARAMS = 9_374_274
NUM_PARAMS_NO_CONTEXT = 8_243_008
CONFIG = {"context": True, "channel_order": "BGR", "max_displacement": 4, "pipeline": "nvlabs"}
SNIKLAUS_CONFIG = {**CONFIG, "pipeline": "sniklaus"}
PTLFLOW_CONFIG = {**CONFIG, "channel_order": "RGB", "pipeline": "ptlflow"}
PTLFLOW_NODC_CONFIG = {**CONFIG, "context": False, "pipeline": "ptlflow-nodc"}


def _input(config: dict, script: str) -> dict[str, str]:
    """The input convention of weights with ``config``, published with ``script``."""
    reordered = "BGR (reordered inside)" if config["channel_order"] == "BGR" else "RGB"
    return {"channels": "RGB", "range": "[0, 1]", "size": "any (resized to multiples of 64 inside)",
            "network channels": reordered, "pipeline": f"{config['pipeline']} ({script})",
            "output": "flow (u, v) in pixels"}


INPUT = _input(CONFIG, "NVlabs script_pwc.py")

RECIPE_THINGS = ("FlyingChairs (S_long schedule) then FlyingThings3D (S_fine), multi-scale L2 loss "
                 "on flows 6..2 with weights 0.32, 0.08, 0.02, 0.01, 0.005 (paper, Sec. 4)")
RECIPE_SINTEL = RECIPE_THINGS + "; then fine-tuned on MPI-Sintel clean+final with a robust loss"

PAPER_METRICS = "Sun et al. CVPR 2018, Table 2 (Caffe model, train-set EPE)"
PTLFLOW_METRICS = ("ptlflow docs/source/results/summarized_metrics-epe.csv (commit 08a3c9e), ptlflow's own "
                   "evaluation on the training sets (EPE, px)")

NVLABS_RAW = "https://raw.githubusercontent.com/NVlabs/PWC-Net/master/PyTorch/"
NVLABS_GITHUB = "https://github.com/NVlabs/PWC-Net/raw/master/PyTorch/"
SNIKLAUS = "http://content.sniklaus.com/github/pytorch-pwc/"
PTLFLOW = "https://github.com/hmorimitsu/ptlflow/releases/download/weights1/"

ARCHITECTURE = Architecture(
    name="pwcnet",
    network="zoo.models.pwcnet.network:PWCNet",
    module="zoo.models.pwcnet.module:PWCNetModule",
    converter="zoo.models.pwcnet.convert",
    default_config=CONFIG,
    default_weights="things",
    description="PWC-Net optical flow (PWC-DC-Net, Sun et al. CVPR 2018), 9.37 M parameters",
    usage="flow = net(image1, image2)  # (B, 3, H, W) RGB in [0, 1] -> (B, 2, H, W) flow (u, v) in pixels",
    command="zoo flow frame1.png frame2.png --weights {weights} -o flow.flo --png flow.png",
    tags=("optical-flow", "pwc-net", "pytorch"),
    task=OPTICAL_FLOW,
    onnx_graphs={"flow": "zoo.publish.onnx_export:flow_graph"},
    size_multiple=64,
)


def _nvlabs(tag: str, file_name: str, git_sha1: str, recipe: str, metrics: dict, metrics_source: str) -> WeightsInfo:
    return WeightsInfo(
        name=f"pwcnet.{tag}", layout="pwcnet-nvlabs",
        urls=(NVLABS_RAW + file_name, NVLABS_GITHUB + file_name), git_sha1=git_sha1, file_name=file_name,
        config=CONFIG, input_convention=INPUT, license=LICENSE,
        source="https://github.com/NVlabs/PWC-Net (PyTorch/), converted from the authors' Caffe model",
        paper=PAPER, num_params=NUM_PARAMS, metrics=metrics, metrics_source=metrics_source, recipe=recipe)


def _sniklaus(tag: str, model: str, recipe: str) -> WeightsInfo:
    file_name = f"network-{model}.pytorch"
    return WeightsInfo(
        name=f"pwcnet.{tag}", layout="pwcnet-sniklaus", urls=(SNIKLAUS + file_name,), file_name=file_name,
        config=SNIKLAUS_CONFIG, input_convention=_input(SNIKLAUS_CONFIG, "sniklaus run.py"), license=LICENSE,
        source="https://github.com/sniklaus/pytorch-pwc (run.py --model " + model + "), the authors' Caffe weights",
        paper=PAPER, num_params=NUM_PARAMS, recipe=recipe)


def _ptlflow(tag: str, file_name: str, sha256: str, context: bool, recipe: str, metrics: dict) -> WeightsInfo:
    model = "pwcnet" if context else "pwcnet_nodc"
    config = PTLFLOW_CONFIG if context else PTLFLOW_NODC_CONFIG
    return WeightsInfo(
        name=f"pwcnet.{tag}", layout="pwcnet-ptlflow", urls=(PTLFLOW + file_name,), sha256=sha256,
        file_name=file_name, config=config, input_convention=_input(config, f"ptlflow 0.4.2 {model}"),
        license=LICENSE, paper=PAPER,
        source=f"https://github.com/hmorimitsu/ptlflow (model {model}), release weights1",
        num_params=NUM_PARAMS if context else NUM_PARAMS_NO_CONTEXT,
        metrics=metrics, metrics_source=PTLFLOW_METRICS,
        recipe=recipe + " (the paper's recipe; ptlflow does not document how these files were produced)")


_PUBLISHED = (
    _nvlabs("things", "pwc_net_chairs.pth.tar", "da1bf4000b52a24d5919729be2aceb7c55c58f66", RECIPE_THINGS,
            {"sintel-clean-train": {"epe": 2.55}, "sintel-final-train": {"epe": 3.93},
             "kitti-2012-train": {"epe": 4.14}, "kitti-2015-train": {"epe": 10.35, "fl-all": 33.67}},
            PAPER_METRICS),
    _nvlabs("sintel", "pwc_net.pth.tar", "27da4cc96929c0474f8083364712df3a1c50c52e", RECIPE_SINTEL, {}, ""),
    _sniklaus("sniklaus-sintel", "default", RECIPE_SINTEL),
    _sniklaus("sniklaus-things", "chairs-things", RECIPE_THINGS),
    _ptlflow("ptlflow-things", "pwcdcnet-things-cc223701.ckpt", "cc223701", True, RECIPE_THINGS,
             {"sintel-clean-train": {"epe": 2.676}, "sintel-final-train": {"epe": 4.213},
              "kitti-2012-train": {"epe": 4.582}, "kitti-2015-train": {"epe": 10.994}}),
    _ptlflow("ptlflow-sintel", "pwcdcnet-sintel-c7d08a46.ckpt", "c7d08a46", True, RECIPE_SINTEL,
             {"sintel-clean-train": {"epe": 1.808}, "sintel-final-train": {"epe": 2.328},
              "kitti-2012-train": {"epe": 2.072}, "kitti-2015-train": {"epe": 3.159}}),
    _ptlflow("ptlflow-nodc-things", "pwcnet-things-6a2e540b.ckpt", "6a2e540b", False, RECIPE_THINGS,
             {"sintel-clean-train": {"epe": 3.358}, "sintel-final-train": {"epe": 4.827},
              "kitti-2012-train": {"epe": 5.551}, "kitti-2015-train": {"epe": 12.669}}),
    _ptlflow("ptlflow-nodc-sintel", "pwcnet-sintel-533815e5.ckpt", "533815e5", False, RECIPE_SINTEL,
             {"sintel-clean-train": {"epe": 2.255}, "sintel-final-train": {"epe": 2.82},
              "kitti-2012-train": {"epe": 3.327}, "kitti-2015-train": {"epe": 6.249}}),
)


# --- pwcnet.synth: our own training runs (configs/pwcnet/synthetic*.yaml) --------------
# Trained on SyntheticFlow on a shared 2-core CPU in three stages (from scratch, then full-size renders,
# then recipe v2's wide driving scenes), exported with `zoo export` from the best validation checkpoint;
# benchmarks/pwcnet_synth_eval.py prints the metrics.
_SYNTH = WeightsInfo(
    name="pwcnet.synth", layout="zoo", bundled="pwcnet-synth.safetensors", file_name="pwcnet-synth.safetensors",
    sha256="b71087f88898932ed4920c2cc7b8bbb1b3219e98bd8a7aa3c12d7f0e49503399", file_size=18763108, config=CONFIG,
    input_convention=_input(CONFIG, "ours, the NVlabs steps"),
    license="Apache-2.0 (weights trained by this project on its own synthetic data)",
    source="this project: zoo fit with configs/pwcnet/synthetic.yaml, synthetic-384.yaml, then synthetic-v2.yaml "
           "(9,000 + 1,250 + 4,000 iterations, 2 CPU cores, about 4 h 20 min in all)",
    paper=PAPER, num_params=NUM_PARAMS,
    metrics={
        "synthetic-seed2-192x256 (64 held-out pairs, recipe v1)": {"epe": 2.132, "zero-flow epe": 5.647, "farneback epe": 2.744,
                                                            "dis-medium epe": 1.906},
        "synthetic-seed2-384x512 (32 held-out pairs, recipe v1)": {"epe": 4.074, "zero-flow epe": 12.028, "farneback epe": 6.583,
                                                            "dis-medium epe": 3.835},
        "synthetic-v2-seed2-384x512 (32 held-out pairs)": {"epe": 2.177, "zero-flow epe": 7.192, "farneback epe": 4.407,
                                                            "dis-medium epe": 5.35},
        "synthetic-v2-seed2-375x1242 (16 held-out pairs, KITTI size)": {"epe": 4.831, "zero-flow epe": 14.381,
                                                                         "farneback epe": 9.245, "dis-medium epe": 7.412},
        "flyingchairs-crop-50x50 (1 real pair)": {"epe": 0.82, "zero-flow epe": 1.783, "farneback epe": 1.259,
                                                  "dis-medium epe": 0.898},
        "sintel-frame10-11-436x1024 (1 real pair, no ground truth)": {"warping error": 3.106,
                                                                      "zero-flow warping error": 8.815,
                                                                      "farneback warping error": 3.071,
                                                                      "dis-medium warping error": 1.97},
    },
    metrics_source="benchmarks/pwcnet_synth_eval.py --baselines on the shipped fp16 file: held-out seed 2 of recipes "
                   "v1 and v2 (training used seed 0, selection seed 1); the real FlyingChairs crop and Sintel pair of "
                   "../shared, evaluation only (warping error: mean |frame 1 - warped frame 2|, 0-255); Farneback and "
                   "DIS (medium preset) from OpenCV, measured in the same run",
    recipe="stage 0: from scratch on SyntheticFlow v1 192x256 renders, 128x192 crops, batch 4, Adam 1e-3 halved at "
           "5.6 k, 7.3 k, 8.3 k of 9 k; stage 1: v1 384x512 renders, 256x320 crops, Adam 5e-4, best at step 1,250; "
           "stage 2: recipe v2 (driving scenes with ego-motion and parallax, layered, non-rigid, sub-pixel) 320x896 "
           "renders, 256x768 crops, batch 2, Adam 2e-4 halved at 2.4 k, 3.2 k, 3.6 k of 4 k, best at 4 k. All "
           "bf16-mixed with the paper's multi-scale L2 loss and weight decay plus our feature-matching term "
           "(weight 1). Far from the paper's 1.2 M iterations: continue with --model.weights "
           "zoo/weights/pwcnet-synth.safetensors",
    **measured_fields("pwcnet.synth"),
)

WEIGHTS = (*_PUBLISHED, _SYNTH)
