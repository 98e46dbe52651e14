"""The zoo catalogue: one folder per entry (config.json, model card README.md, pretrained/).

Not code: this folder is installed as the package data `keras_vae.catalogue.zoo`
(keras_vae/catalogue/zoo is a symlink to it), which keras_vae.catalogue.entries.zoo_dir finds
through importlib.resources.
"""
