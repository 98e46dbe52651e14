"""`python -m keras_vae.bench`: how fast each zoo entry trains and serves on this machine.

Each entry is measured in its own process (`entry.py`), so peak memory and XLA caches are its own:
training images/s at steady state, FLOPs per image and their rate as a fraction of this
machine's dense matmul rate measured in the same run, input pipeline headroom, memory growth,
the XLA speed-up, the exported decoder's speed through Keras, SavedModel and onnxruntime, and
for an entry with an importance-weighted bound the rate of its k = 1000 evaluation (`bound.py`).
Then, where a Python with torch and pythae is at hand (`--peers-python`), the same digits
through pythae's MLP VAE and an eager PyTorch twin of conv_vae (`peers.py`, `peer_torch.py`).
Absolute numbers drift with other work on the machine; the ratios are what we track.
"""
