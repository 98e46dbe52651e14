"""A TF Serving REST predict client for exported decoders: z (and labels) in, images out.

The two documented request bodies (https://www.tensorflow.org/tfx/serving/api_rest):
    columnar  {"inputs": {"z": [[...], ...]}}  ->  {"outputs": <images>}
    row       {"instances": [[...], ...]}       ->  {"predictions": [<image>, ...]}
With several inputs (a conditional decoder's z and labels), columnar names each input and a row
is {"z": [...], "labels": 3}.
A signature with a single output answers without the output's name; with several, by name.
"""

import json
import urllib.error
import urllib.request

import numpy as np

from keras_vae.core.errors import UserError

REQUEST_FORMATS = ("inputs", "instances")


def request_body(inputs, request_format):
    """`inputs`: {name: array} (a bare array means {"z": array}).

    Args:
        inputs: {input name: array [N, ...]} (latents float32 [N, latent_dim], labels int [N]), or a
            bare array, the latents z.
        request_format: "inputs" (columnar) or "instances" (row), see the module docstring.

    Returns:
        the JSON-ready request body, a dict of nested lists.

    Raises:
        UserError: an unknown `request_format`.
    """
    if not isinstance(inputs, dict):
        inputs = {"z": inputs}
    # float32 -> JSON doubles -> float32 is exact; labels stay integers.
    inputs = {name: np.asarray(value).tolist() for name, value in inputs.items()}
    if request_format == "inputs":
        return {"inputs": inputs}
    if request_format == "instances":
        if len(inputs) == 1:
            return {"instances": next(iter(inputs.values()))}
        return {"instances": [dict(zip(inputs, row)) for row in zip(*inputs.values())]}
    raise UserError(f"unknown request format {request_format!r}; choose from {', '.join(REQUEST_FORMATS)}")


def images_from(answer, request_format):
    """The images in TF Serving's answer to a request in `request_format`.

    Args:
        answer: the decoded JSON answer, a dict.
        request_format: "inputs" (the answer has "outputs") or "instances" ("predictions"); with
            several outputs, the one named "images" is taken.

    Returns:
        np.ndarray float32 [N, H, W, C], the values as the server sent them.

    Raises:
        UserError: the answer lacks its key, or the images are not 4-D.
    """
    key = "outputs" if request_format == "inputs" else "predictions"
    if key not in answer:
        raise UserError(f"the server answered without {key!r}: {str(answer)[:200]}")
    images = answer[key]
    if isinstance(images, dict):  # columnar, several outputs
        images = images.get("images")
    elif images and isinstance(images[0], dict):  # row, several outputs
        images = [row.get("images") for row in images]
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise UserError(f"expected images [batch, height, width, channels], got shape {list(images.shape)}")
    return images


def predict(url, model, z, request_format="inputs", timeout=30.0):
    """POST /v1/models/MODEL:predict and return the decoded images as float32 [N, H, W, C].

    `z`: latents [N, latent_dim], or {input name: array} for a decoder with several inputs.

    Args:
        url: the TF Serving REST base URL, e.g. "http://localhost:8501".
        model: the served model's name, e.g. "conv_vae_decoder".
        z: latents float32 [N, latent_dim], or {input name: array} (e.g. z and int labels [N]).
        request_format: "inputs" (columnar) or "instances" (row).
        timeout: seconds to wait for the answer.

    Returns:
        np.ndarray float32 [N, H, W, C]: the decoder's "images" output, as served.

    Raises:
        UserError: an unknown request format, an HTTP error status (with TF Serving's message), an
            unreachable server or a timeout, an answer that is not JSON, or one without images.
    """
    endpoint = f"{url.rstrip('/')}/v1/models/{model}:predict"
    request = urllib.request.Request(
        endpoint,
        data=json.dumps(request_body(z, request_format)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:  # TF Serving explains itself in {"error": ...}
        body = error.read().decode(errors="replace")
        try:
            message = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            message = body[:200]
        raise UserError(f"{endpoint} answered {error.code}: {message}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"cannot reach TF Serving at {url}: {reason}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{endpoint} did not answer JSON: {error}") from None
    return images_from(answer, request_format)
