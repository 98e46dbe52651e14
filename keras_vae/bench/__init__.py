"""`python -m keras_vae.bench`: how fast each zoo entry trains and serves on this machine.

Each entry is measured in its own process (`entry.py`), so peak memory and XLA caches are its own:
training images/s at steady state, FLOPs per image and their rate as a fraction of this
machine's dense matmul rate measured in the same run, input pipeline headroom, memory growth,
the XLA speed-up, and the exported decoder's speed through Keras, SavedModel and onnxruntime.
Absolute numbers drift with other work on the machine; the ratios are what we track.
"""
