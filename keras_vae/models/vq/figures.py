"""The VQ models' figure: how often the encoder assigns each code of each codebook."""

import numpy as np

from keras_vae.core.pictures import Bars, slices


def codebook_usage(model, examples, **_):
    """Bars: one histogram per codebook of the model (`code_levels`: a VQ-VAE-2 has two) over
    the test split, titled with how many codes are used."""
    levels = {}
    for batch in slices(examples, 256):
        for level, (codes, num_codes) in model.code_levels(batch["images"]).items():
            levels.setdefault(level, (num_codes, []))[1].append(codes.numpy().ravel())
    counts = {
        level: np.bincount(np.concatenate(codes), minlength=num_codes) for level, (num_codes, codes) in levels.items()
    }
    panels = {
        f"{level}: {np.count_nonzero(c)} of {len(c)} used, {c.sum()} assignments": c for level, c in counts.items()
    }
    title = "Codebook usage on the test split: how often each code is assigned"
    return Bars(panels, title, "code", "assignments")
