"""Getting a weight set: the verified file cache and downloads (:mod:`.cache`), reading checkpoint
files safely (:mod:`.checkpoint`), building a network or module from a name, file or folder
(:mod:`.loader`) and the Hugging Face Hub (:mod:`.hf_hub`). The bundled ``*.safetensors`` live
beside them."""
