"""The catalog module of ``toyflow`` (tests/support/toyflow_network.py), written as a module of
``zoo/catalog/`` is: ``ARCHITECTURE`` and ``WEIGHTS``, importing nothing but the records.

Registered by the ``toyflow`` fixture (tests/zoo/catalog/test_third_architecture.py) with
``zoo.catalog.registry.register_catalog``, or found by the registry's discovery when it lies in
the ``zoo.catalog`` package. Its one weight set has no download: a test writes the upstream file
and imports it with ``zoo import toyflow.mix FILE``.
"""

from __future__ import annotations

from zoo.catalog.records import OPTICAL_FLOW, Architecture, WeightsInfo

NUM_PARAMS = 2 * 6 + 2

ARCHITECTURE = Architecture(
    name="toyflow",
    network="tests.support.toyflow_network:ToyFlow",
    converter="tests.support.toyflow_network",
    description="a toy optical-flow network of the test suite: one 1x1 convolution of the stacked frames",
    usage="flow = net(image1, image2)  # (B, 3, H, W) RGB in [0, 1] -> (B, 2, H, W) flow in pixels",
    command="zoo flow frame1.png frame2.png --weights {weights} -o flow.flo",
    tags=("optical-flow", "pytorch"),
    task=OPTICAL_FLOW,
    onnx_graphs={"flow": "zoo.publish.onnx_export:flow_graph"},
)

WEIGHTS = (
    WeightsInfo(name="toyflow.mix", layout="toyflow-upstream", file_name="toyflow-mix.pth", num_params=NUM_PARAMS,
                manual_download="written by the test that uses it", license="CC0", recipe="chosen by hand"),
)
