"""TD-VAE's headline in `list`: the pair loss and its rollouts beside repeating the last frame.
TensorFlow-free."""


def parts(metrics):
    """["pair loss 60.1", "rollout MSE 1 / 8 ahead ... (repeating the last frame ...)"] from a
    metrics.json dict ("loss"; "mse_h<j>" and "repeat_mse_h<j>" per horizon j, per pixel)."""
    last = max(int(name[len("mse_h"):]) for name in metrics if name.startswith("mse_h"))
    return [f"pair loss {metrics['loss']:.1f}",
            f"rollout MSE 1 / {last} ahead {metrics['mse_h1']:.4f} / {metrics[f'mse_h{last}']:.4f} (repeating "
            f"the last frame {metrics['repeat_mse_h1']:.4f} / {metrics[f'repeat_mse_h{last}']:.4f})"]
