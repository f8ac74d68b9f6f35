"""Accuracy-against-queries curves as a PNG, drawn with Pillow (no plotting library).

One panel per task; the x axis is queries on a log scale, the y axis test accuracy. Each
method is its mean over seeds with a band from its lowest to its highest seed; the
baselines that spend a fixed number of queries (the linear probes, logistic regression
on pixels) are dashed horizontal lines.
"""

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
           (0, 0, 0), (90, 90, 200), (200, 90, 90)]
FLAT = {"probe-logistic": (60, 60, 60), "probe-ridge": (150, 150, 150),
        "pixels-logistic": (0, 150, 150)}
PANEL_W, PANEL_H, MARGIN = 520, 360, 60


def _font(size=13):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _dashed(draw, start, end, fill, dash=6):
    (x0, y), (x1, _) = start, end
    for x in range(int(x0), int(x1), 2 * dash):
        draw.line([(x, y), (min(x + dash, x1), y)], fill=fill, width=2)


def _axes(left, top, width, height, x_range, y_range):
    """Pixel position of ``(queries, accuracy)`` in a panel (queries on a log scale)."""
    (x_min, x_max), (y_min, y_max) = x_range, y_range

    def to_xy(queries, accuracy):
        x = left + (math.log10(max(queries, 800)) - x_min) / (x_max - x_min) * width
        y = top + (y_max - accuracy) / (y_max - y_min) * height
        return x, y

    return to_xy


def save_curves(curves, lines, path):
    """``curves[(task, method)][seed]`` lists of points; ``lines[(task, method)]`` rows."""
    tasks = sorted({task for task, _ in curves} | {task for task, _ in lines})
    methods = sorted({method for _, method in curves})
    colors = {method: PALETTE[i % len(PALETTE)] for i, method in enumerate(methods)}
    legend_h = 22 * (math.ceil((len(methods) + len(FLAT)) / 3) + 1)
    image = Image.new("RGB", (PANEL_W * len(tasks), PANEL_H + legend_h), "white")
    draw = ImageDraw.Draw(image)
    font = _font()
    x_min, x_max = math.log10(800), math.log10(120000)

    for panel, task in enumerate(tasks):
        left, top = panel * PANEL_W + MARGIN, 30
        width, height = PANEL_W - MARGIN - 20, PANEL_H - 80
        task_values = [p["accuracy"] for (t, _), runs in curves.items() if t == task
                       for points in runs.values() for p in points]
        task_values += [r["accuracy"] for (t, _), rows in lines.items() if t == task for r in rows]
        y_min = max(0.0, math.floor(min(task_values, default=0) * 10) / 10)
        y_max = 1.0

        to_xy = _axes(left, top, width, height, (x_min, x_max), (y_min, y_max))

        draw.rectangle([left, top, left + width, top + height], outline=(0, 0, 0))
        draw.text((left, 8), task, fill=(0, 0, 0), font=_font(15))
        for tick in (1000, 2000, 5000, 10000, 20000, 50000, 100000):
            x, _ = to_xy(tick, y_min)
            draw.line([(x, top + height), (x, top + height + 4)], fill=(0, 0, 0))
            draw.text((x - 12, top + height + 6), f"{tick // 1000}k", fill=(0, 0, 0), font=font)
        step = 0.02 if y_max - y_min <= 0.2 else 0.05 if y_max - y_min <= 0.5 else 0.1
        for value in np.arange(y_min, y_max + 1e-9, step):
            _, y = to_xy(1000, value)
            draw.line([(left - 4, y), (left, y)], fill=(0, 0, 0))
            draw.line([(left, y), (left + width, y)], fill=(235, 235, 235))
            draw.text((left - 38, y - 7), f"{value:.2f}", fill=(0, 0, 0), font=font)
        draw.text((left + width // 2 - 60, top + height + 22), "training queries (log)",
                  fill=(0, 0, 0), font=font)

        for (t, method), rows in sorted(lines.items()):
            if t != task or method not in FLAT:
                continue
            _, y = to_xy(1000, float(np.mean([r["accuracy"] for r in rows])))
            _dashed(draw, (left, y), (left + width, y), FLAT[method])
        for (t, method), runs in sorted(curves.items()):
            if t != task:
                continue
            budgets = sorted({p["budget"] for points in runs.values() for p in points})
            means, spans = [], []
            for budget in budgets:
                at = [p for points in runs.values() for p in points if p["budget"] == budget]
                queries = float(np.mean([p["queries"] for p in at]))
                accuracy = [p["accuracy"] for p in at]
                means.append(to_xy(queries, float(np.mean(accuracy))))
                spans.append((to_xy(queries, min(accuracy)), to_xy(queries, max(accuracy))))
            if len(means) > 1:
                draw.line(means, fill=colors[method], width=2)
            for (x, y), (low, high) in zip(means, spans):
                draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colors[method])
                draw.line([low, high], fill=colors[method], width=1)

    entries = [(m, colors[m], False) for m in methods] + [(m, c, True) for m, c in FLAT.items()]
    for i, (name, color, dashed) in enumerate(entries):
        x = 20 + (i % 3) * 300
        y = PANEL_H + 10 + 22 * (i // 3)
        if dashed:
            _dashed(draw, (x, y + 7), (x + 30, y + 7), color)
        else:
            draw.line([(x, y + 7), (x + 30, y + 7)], fill=color, width=3)
        draw.text((x + 38, y), name, fill=(0, 0, 0), font=font)
    image.save(path)
    return path
