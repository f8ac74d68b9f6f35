"""Pictures of a fitted reprogrammer, drawn with Pillow alone (no plotting library)."""

import numpy as np
from PIL import Image, ImageDraw


def _to_image(canvas):
    pixels = np.clip(np.asarray(canvas) * 255 + 0.5, 0, 255).astype(np.uint8)
    if pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return Image.fromarray(pixels)


def save_demo_figure(estimator, X, y=None, path="skbar-demo.png", label_names=None):
    """Save the learned program and a few reprogrammed inputs with their predicted labels.

    Parameters
    ----------
    estimator : BlackBoxReprogrammingClassifier
        A fitted reprogrammer.
    X : array-like
        A few target samples to show.
    y : array-like, optional
        Their true labels, printed beside the predictions.
    path : str
        Where the PNG goes.
    label_names : mapping, optional
        Display names of the target labels.

    Returns
    -------
    str
        ``path``.
    """
    canvases = estimator.reprogram(X)
    predicted = estimator.predict(X)
    mask = estimator.mask_
    program = canvases[0] * mask + 0.5 * (1 - mask)  # the frame alone, grey over the sample
    tiles = [(_to_image(program), "program P")]
    for i, canvas in enumerate(canvases):
        name = label_names.get(predicted[i], predicted[i]) if label_names else predicted[i]
        caption = f"pred {name}" + ("" if y is None else f" (true {np.asarray(y)[i]})")
        tiles.append((_to_image(canvas), caption))
    size = tiles[0][0].size
    columns = min(len(tiles), 5)
    rows = -(-len(tiles) // columns)
    caption_height = 16
    sheet = Image.new("RGB", (columns * size[0], rows * (size[1] + caption_height)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (tile, caption) in enumerate(tiles):
        x, y0 = (k % columns) * size[0], (k // columns) * (size[1] + caption_height)
        sheet.paste(tile.convert("RGB"), (x, y0))
        draw.text((x + 2, y0 + size[1] + 2), caption, fill="black")
    sheet.save(path)
    return path
