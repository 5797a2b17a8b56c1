"""NVAE: the architecture and the released NVlabs checkpoints.

The official checkpoints live in a Google Drive folder that offers no stable direct links, so
each weight set is fetched by hand and registered with ``zoo import NAME PATH``. The files are
the official trainer's ``checkpoint.pt`` (layout ``nvae-official``); the network config is read
from the ``args`` stored inside, the configs here are the README training commands.
"""

from __future__ import annotations

from zoo.catalog.measured import measured_fields
from zoo.catalog.records import IMAGE_GENERATION, Architecture, WeightsInfo
from zoo.models.nvae.config import PRESETS, NVAEConfig

PAPER = ("Arash Vahdat, Jan Kautz. NVAE: A Deep Hierarchical Variational Autoencoder. "
         "NeurIPS 2020. arXiv:2007.03898")
LICENSE = "NVIDIA Source Code License for NVAE (non-commercial: research or evaluation only)"
SOURCE = "https://github.com/NVlabs/NVAE (README, 'Checkpoints')"
DRIVE_FOLDER = "https://drive.google.com/drive/folders/1KVpw12AzdVjvbfEYM_6_3sxTy93wWkbe"
METRICS_SOURCE = ("Vahdat & Kautz, NeurIPS 2020, Table 1: negative log-likelihood, importance "
                  "weighted with 1000 samples (nats per image for MNIST, bits/dim otherwise)")


def _input(channels: int, size: int, binary: bool) -> dict[str, str]:
    kind = "binary {0, 1}, 28x28 digits zero-padded to 32x32" if binary else "RGB in [0, 1]"
    return {"channels": "1" if channels == 1 else "RGB", "range": kind, "size": f"{size}x{size}"}


def _manual(folder_entry: str) -> str:
    return (f"Download the NVAE {folder_entry} checkpoint.pt from the official Google Drive "
            f"folder linked in the NVlabs/NVAE README ({DRIVE_FOLDER}).")


ARCHITECTURE = Architecture(
    name="nvae",
    network="zoo.models.nvae.network:build_nvae",
    module="zoo.models.nvae.module:NVAEModule",
    converter="zoo.models.nvae.convert",
    default_config=PRESETS["mnist"].to_dict(),
    default_weights=None,
    description="NVAE deep hierarchical VAE (Vahdat & Kautz, NeurIPS 2020); default config: "
                "the MNIST model, 33.36 M parameters",
    usage=("images = net.sample(16, temperature=0.7)  # (16, C, S, S) in [0, 1]\n"
           "log_px = net.log_likelihood(net.quantize(x), num_samples=100)  # log p(x), nats per image "
           "(MNIST models: binary x, torch.bernoulli of grey digits)"),
    command="zoo sample nvae --weights {weights} -n 64 -t 0.7 -o samples.png",
    tags=("vae", "nvae", "image-generation", "pytorch"),
    task=IMAGE_GENERATION,
    onnx_graphs={"sample": "zoo.models.nvae.graphs:sampling_graph", "posterior": "zoo.models.nvae.graphs:posterior_graph"},
)


def _nvae(tag: str, preset: str, folder_entry: str, num_params: int, metrics: dict,
          recipe: str, metrics_source: str = METRICS_SOURCE) -> WeightsInfo:
    config = PRESETS[preset]
    return WeightsInfo(
        name=f"nvae.{tag}", layout="nvae-official", file_name="checkpoint.pt",
        config=config.to_dict(),
        input_convention=_input(config.image_channels, config.image_size,
                                config.decoder_distribution == "bernoulli"),
        license=LICENSE, source=SOURCE, paper=PAPER, num_params=num_params, metrics=metrics,
        metrics_source=metrics_source, recipe=recipe, manual_download=_manual(folder_entry))


_PUBLISHED = (
    _nvae("mnist", "mnist", "MNIST", 33_363_134, {"mnist-test": {"nll_nats": 78.01}},
          "binarised MNIST, 400 epochs, batch 200 on 2 GPUs, 2 latent scales x 10 groups "
          "(adaptive), spectral regularisation 1e-2"),
    _nvae("cifar10", "cifar10", "CIFAR-10", 130_852_480, {"cifar10-test": {"bpd": 2.91}},
          "CIFAR-10, 400 epochs, batch 32 on 8 GPUs, 1 latent scale x 30 groups, 1 flow cell "
          "per group"),
    _nvae("celeba64", "celeba64", "CelebA 64", 153_281_364, {"celeba64-test": {"bpd": 2.03}},
          "CelebA 64x64, 90 epochs, batch 16 on 8 GPUs, 3 latent scales x 20 groups "
          "(adaptive), 1 flow cell per group"),
    _nvae("celebahq256", "celebahq256", "CelebA HQ 256", 330_798_664,
          {"celebahq256-test": {"bpd": 0.70}, "celebahq256-fid": {"fid": 29.76}},
          "CelebA-HQ 256x256 at 5 bits, 300 epochs, batch 4 on 24 GPUs, 5 latent scales x 16 "
          "groups (adaptive, at least 4), 2 flow cells per group",
          METRICS_SOURCE + "; FID 29.76: this released checkpoint re-measured by the authors for LSGM "
          "(Vahdat, Kreis & Kautz, NeurIPS 2021), as they state in NVlabs/NVAE issue #30"),
    _nvae("ffhq256", "ffhq256", "FFHQ 256", 330_798_664, {"ffhq256-test": {"bpd": 0.69}},
          "FFHQ 256x256 at 5 bits, 200 epochs, batch 4 on 24 GPUs, 5 latent scales x 16 groups "
          "(adaptive, at least 4), 2 flow cells per group, lr 8e-3"),
)


# ---------------------------------------------------------------------------------------------
# nvae.mnist-cpu: a small NVAE trained by the zoo itself on one CPU core (written by the NVAE
# training side; configs/nvae/mnist-cpu.yaml). The figures are ours, measured as stated.

_MNIST_CPU = WeightsInfo(
    name="nvae.mnist-cpu", layout="zoo", bundled="nvae-mnist-cpu.safetensors",
    file_name="nvae-mnist-cpu.safetensors",
    config=NVAEConfig(
        image_size=32, image_channels=1, decoder_distribution="bernoulli", crop_border=2,
        arch_instance="res_bnswish", num_channels_enc=12, num_channels_dec=12,
        num_latent_scales=2, num_groups_per_scale=8, ada_groups=True, num_latent_per_group=20,
        num_preprocess_blocks=2, num_preprocess_cells=1, num_postprocess_blocks=2,
        num_postprocess_cells=1, num_cell_per_cond_enc=1, num_cell_per_cond_dec=1,
        use_se=True, res_dist=True, num_nf=0).to_dict(),
    input_convention=_input(1, 32, True),
    license="Apache-2.0 (as the zoo's code); trained on MNIST",
    source="trained for the zoo with zoo fit --config configs/nvae/mnist-cpu.yaml",
    paper=PAPER, num_params=2_550_198, file_size=10_308_088,
    metrics={"mnist-val-5000": {"nelbo_nats": 89.20},
             "mnist-test": {"nll_nats_k100": 84.56},
             "mnist-test-first-1000": {"nll_nats_k1000": 82.73}},
    metrics_source=("measured by the zoo: single-sample ELBO on the 5,000 held-out training "
                    "digits (used for selection); importance-weighted NLL with K=100 on all "
                    "10,000 test digits (+-0.21 s.e.) and K=1000 on the first 1,000 (+-0.69 s.e.), "
                    "dynamic binarisation, eval-mode batch norm; see the file's metadata"),
    recipe=("binarised MNIST (55,000 digits, 5,000 held out), paper objective and optimiser, "
            "batch 32, 4,590 steps (2.7 epochs) in two stages on one CPU thread, 1.3 h"),
    **measured_fields("nvae.mnist-cpu"),
)

WEIGHTS = (*_PUBLISHED, _MNIST_CPU)
