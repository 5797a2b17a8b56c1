"""Writing what others use: safetensors export (:mod:`.safetensors_export`, and the training
callback :mod:`.export_best`), ONNX (:mod:`.onnx_export`), ``save_pretrained`` / ``push_to_hub``
(:mod:`.pretrained`) and model cards (:mod:`.card`)."""
