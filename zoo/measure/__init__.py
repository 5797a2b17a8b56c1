"""Measuring models: evaluation protocols (:mod:`.evaluation`), speed and memory
(:mod:`.benchmarking`) and the tables both print (:mod:`.tables`)."""
