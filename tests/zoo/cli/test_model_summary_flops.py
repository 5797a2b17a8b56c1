"""The model summary without Lightning's uncounted FLOPs (0 for modules without an example input)."""

from __future__ import annotations

from zoo.cli.lightning_noise import without_uncounted_flops

UNCOUNTED = """
  | Name    | Type | Params | Mode  | FLOPs
-------------------------------------------------
0 | network | NVAE | 2.6 M  | train | 0    
-------------------------------------------------
2.6 M     Trainable params
451       Modules in train mode
0         Modules in eval mode
0         Total Flops"""  # Lightning pads the last column


def test_uncounted_flops_column_and_total_are_dropped():
    assert without_uncounted_flops(UNCOUNTED) == """
  | Name    | Type | Params | Mode
-----------------------------------
0 | network | NVAE | 2.6 M  | train
-----------------------------------
2.6 M     Trainable params
451       Modules in train mode
0         Modules in eval mode"""


def test_a_real_count_stays():
    counted = UNCOUNTED.replace("| train | 0    ", "| train | 1.2 G").replace("0         Total Flops",
                                                                               "1.2 G     Total Flops")
    assert without_uncounted_flops(counted) == counted
