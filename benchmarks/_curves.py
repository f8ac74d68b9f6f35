"""Accuracy-against-queries curves as a PNG: one panel per task, drawn by skbar.plotting.

One :class:`skbar.plotting.QueryCurveDisplay` per task; the x axis is queries on a log
scale, the y axis test accuracy. Each method is its mean over seeds with a band from its
lowest to its highest seed; the baselines that spend a fixed number of queries (the
linear probes, logistic regression on pixels) are dashed horizontal lines. Needs
matplotlib (``pip install -e ".[plot]"``).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from skbar.plotting import QueryCurveDisplay  # noqa: E402


def save_curves(curves, lines, path, columns=3):
    """``curves[(task, method)][seed]`` lists of points; ``lines[(task, method)]`` rows;
    ``columns`` panels a row at most."""
    rows = [{"task": task, "method": method, "seed": seed, "points": points}
            for (task, method), runs in curves.items() for seed, points in runs.items()]
    rows += [dict(row, task=task, method=method)
             for (task, method), found in lines.items() for row in found]
    tasks = sorted({task for task, _ in curves} | {task for task, _ in lines})
    n_rows = -(-len(tasks) // columns)
    n_cols = min(len(tasks), columns)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.5 * n_cols, 4.5 * n_rows), squeeze=False)
    axes = axes.ravel()
    for ax in axes[len(tasks):]:
        ax.set_visible(False)
    methods = sorted({method for _, method in curves})
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colors = {method: cycle[i % len(cycle)] for i, method in enumerate(methods)}
    for ax, task in zip(axes, tasks):
        QueryCurveDisplay.from_results(rows, task, ax=ax, legend=False, colors=colors)
    legend = {}  # one entry per method, whichever panel drew it
    for ax in axes[:len(tasks)]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    labels = list(legend)
    fig.legend(list(legend.values()), labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.06 + 0.03 * (len(labels) // 4)) / n_rows, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
