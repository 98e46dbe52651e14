"""PNG and JPEG files: their size and channels from the header alone, and one file decoded on demand.

`header(path)` reads a few bytes (PNG's IHDR chunk, JPEG's markers up to its start-of-frame,
skipping every segment with a seek), so a folder of photos can be listed, sized and given its
channel rule without decoding a pixel. `decode(path, ...)` decodes one file with TensorFlow's ops
(`tf.io.decode_image`), takes an optional centre square crop and resizes to the folder's image
size: what `keras_vae.data.stores.Files` calls for each row a batch asks for.
"""

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> channels as decoded: grey, RGB, palette (decoded as RGB), grey + alpha, RGBA.
PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
# JPEG start-of-frame markers (SOF0..SOF15 less DHT C4, JPG C8 and DAC CC): they carry the size.
JPEG_FRAMES = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# JPEG markers without a length field: TEM and the restart markers RST0..RST7.
JPEG_BARE = {0x01, *range(0xD0, 0xD8)}


def header(path):
    """(height, width, channels) of a PNG or JPEG file read from its header, or None.

    The format is told by the file's first bytes, not its suffix. Channels are as
    `tf.io.decode_image` gives them: 1 grey, 2 grey + alpha, 3 colour (a palette PNG too), 4
    RGBA; a JPEG has 1 or 3 (CMYK counts as 3, as it decodes to RGB).

    Args:
        path: the image file.

    Returns:
        a tuple of three ints, or None for a file that is neither a well-formed PNG nor JPEG
        header (or cannot be read).
    """
    try:
        with open(path, "rb") as file:
            start = file.read(8)
            if start == PNG_SIGNATURE:
                return _png_header(file)
            if start[:2] == b"\xff\xd8":
                file.seek(2)
                return _jpeg_header(file)
    except OSError:
        return None
    return None


def _png_header(file):
    chunk = file.read(25)  # length (4), "IHDR", width (4), height (4), bit depth, colour type, ...
    if len(chunk) < 25 or chunk[4:8] != b"IHDR":
        return None
    width, height = int.from_bytes(chunk[8:12], "big"), int.from_bytes(chunk[12:16], "big")
    channels = PNG_CHANNELS.get(chunk[17])
    if channels is None or width < 1 or height < 1:
        return None
    return height, width, channels


def _jpeg_header(file):
    while True:
        byte = file.read(1)
        if byte != b"\xff":
            return None  # not at a marker: not a JPEG we can read
        marker = file.read(1)
        while marker == b"\xff":  # fill bytes before a marker
            marker = file.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in JPEG_BARE:
            continue
        if code in (0xD8, 0xD9, 0xDA):  # a second SOI, the end, or the scan data before any frame
            return None
        length_bytes = file.read(2)
        if len(length_bytes) < 2:
            return None
        length = int.from_bytes(length_bytes, "big")
        if length < 2:
            return None
        if code in JPEG_FRAMES:
            frame = file.read(6)  # precision, height (2), width (2), components
            if len(frame) < 6:
                return None
            height, width, components = int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:5], "big"), frame[5]
            if height < 1 or width < 1 or components not in (1, 3, 4):
                return None
            return height, width, 1 if components == 1 else 3
        file.seek(length - 2, 1)


def centre_offsets(height, width, crop):
    """(top, left) of the centre `crop` x `crop` square of a height x width image: the
    leftover pixels split evenly, the odd one (if any) to the bottom and right."""
    return (height - crop) // 2, (width - crop) // 2


def decode(path, channels, size, crop=None, resize=False):
    """One image file decoded into uint8 [height, width, channels] of the folder's size.

    Args:
        path: a PNG or JPEG file.
        channels: 1 or 3: grey becomes RGB for 3, and alpha is dropped (`tf.io.decode_image`'s
            own conversion).
        size: (height, width) of the result.
        crop: the side of a centre square taken first (`centre_offsets`), or None for none.
        resize: resize to `size` with `tf.image.resize` (bilinear, antialias=True, so a reduction
            averages every source pixel rather than sampling a few), rounded to uint8; if False,
            the (cropped) image must already be `size`.

    Returns:
        a NumPy uint8 array [height, width, channels].

    Raises:
        ValueError: the file does not decode (a corrupt or truncated file: TensorFlow's error, or
            the OS's), it is smaller than `crop`, or (resize False) its size is not `size`.
    """
    import tensorflow as tf

    try:
        with open(path, "rb") as file:
            contents = file.read()
        image = tf.io.decode_image(contents, channels=channels, expand_animations=False)
    except (OSError, tf.errors.OpError) as error:
        raise ValueError(f"cannot decode {path}: {getattr(error, 'message', error)}") from None
    height, width = int(image.shape[0]), int(image.shape[1])
    if crop is not None and min(height, width) < crop:
        raise ValueError(f"{path} is {width}x{height} pixels, smaller than crop={crop}")
    fitted = (crop, crop) if crop is not None else (height, width)
    if fitted != tuple(size) and not resize:
        raise ValueError(f"{path} is {fitted[1]}x{fitted[0]} pixels, not {size[1]}x{size[0]}")
    return np.asarray(fit(image, size, crop))


def fit(image, size, crop=None):
    """The centre `crop` x `crop` square of a uint8 image tensor [height, width, channels] (of
    static height and width, at least `crop`), resized to `size` where it differs: the graph ops
    that both a decoded file (`decode`) and a TFDS stream (`keras_vae.data.tfds_stream`) use.

    Args:
        image: a uint8 tensor [height, width, channels].
        size: (height, width) of the result.
        crop: the side of a centre square taken first (`centre_offsets`), or None for none.

    Returns:
        a uint8 tensor [size[0], size[1], channels]: resized with `tf.image.resize` (bilinear,
        antialias=True, so a reduction averages every source pixel rather than sampling a
        few), rounded.
    """
    import tensorflow as tf

    height, width = int(image.shape[0]), int(image.shape[1])
    if crop is not None:
        top, left = centre_offsets(height, width, crop)
        image = image[top : top + crop, left : left + crop]
        height = width = crop
    if (height, width) != tuple(size):
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return image
