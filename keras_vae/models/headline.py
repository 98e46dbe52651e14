"""The headlines of the image models' metrics (`list`), shared by their families. TensorFlow-free."""


def reconstruction(metrics):
    """["BCE 58.5", "MSE 0.0040"] from a metrics.json dict with "bce" (nats) and "mse" (per pixel)."""
    return [f"BCE {metrics['bce']:.1f}", f"MSE {metrics['mse']:.4f}"]


def bounds(metrics):
    """["ELBO -96.5", "IWAE (k = 1000) -91.2", "9/10 active units"] from a metrics.json dict
    ("elbo", nats; "iwae" and "iwae_k" when the bound was run; "active_units" of "latent_dim")."""
    parts = [f"ELBO {metrics['elbo']:.1f}"]
    if metrics.get("iwae") is not None:
        parts.append(f"IWAE (k = {metrics['iwae_k']}) {metrics['iwae']:.1f}")
    if "active_units" in metrics:
        parts.append(f"{metrics['active_units']}/{metrics['latent_dim']} active units")
    return parts
