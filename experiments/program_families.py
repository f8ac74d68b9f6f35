"""Which small program families carry the top five gain? A screen with true gradients.

An experiment, not a part of skbar (it needs the ``torch`` extra). The task is the
benchmark's ``digits-top5`` (EfficientNet-Lite0 at 96 px answering its five best classes,
digits at 64 px); the objective the defaults' search reads there with one answer per
sample, the focal loss of the log-domain multi-label average (``m = 3``), trained with
Adam on exact gradients through the five best scores, minibatches of 32; then the head is
refitted through the black-box estimator and scored on the test half. A zeroth-order
search can at best follow these curves, so a family worth searching must score well here
with few numbers. ``FAMILY`` is one of:

- ``grid:S``: an SxSx3 ``W``, bilinearly upsampled (the defaults' program is ``grid:8``);
- ``lowrank:S:r``: ``W[:, :, c] = U_c V_c^T`` of rank ``r`` per channel, ``2 S r 3`` numbers;
- ``grey:S``: one SxS ``W`` shared by the three channels.

    python experiments/program_families.py 0 lowrank:32:4 150 0.05

Prints one line: the family, its numbers, the test accuracy and the probe's.
"""
import sys
import time

import numpy as np
import torch
from _benchmark import load_task

from skbar import zoo
from skbar.baselines import WhiteBoxReprogrammingClassifier, _pretrained, _to_model_input
from skbar.heads import label_map_prior
from skbar.oracles import TopKOracle
from skbar.canvas import bilinear_matrix


def family_program(family, generator):
    """The trained tensors of ``family`` and the map from them to an ``(S, S, 3)`` ``W``."""
    kind, *sizes = family.split(":")
    S = int(sizes[0])
    if kind == "grid":
        params = [torch.zeros(S, S, 3)]
        return S, params, lambda: params[0]
    if kind == "lowrank":
        rank = int(sizes[1])
        # U starts random and V at zero, so W starts at zero (the grey frame).
        params = [torch.randn(S, rank, 3, generator=generator) * 0.3, torch.zeros(S, rank, 3)]
        return S, params, lambda: torch.einsum("irc,jrc->ijc", params[0], params[1])
    if kind == "grey":
        params = [torch.zeros(S, S, 1)]
        return S, params, lambda: params[0].expand(S, S, 3)
    raise ValueError(f"unknown family {family!r}; expected grid:S, lowrank:S:r or grey:S")


def main():
    torch.set_num_threads(1)
    seed, family = int(sys.argv[1]), sys.argv[2]
    steps, learning_rate = int(sys.argv[3]), float(sys.argv[4])
    S, params, make_w = family_program(family, torch.Generator().manual_seed(seed))
    X, y, X_test, y_test, embed = load_task("digits-top5", seed)
    oracle = TopKOracle(zoo.load("efficientnet-lite0", image_size=96, n_threads=1), 5)
    # The black-box estimator that maps labels, embeds the samples and reads the answers.
    bar = WhiteBoxReprogrammingClassifier(
        image_size=96, embed_size=64, m=3, top_k=5, max_iter=0, output_mapping="log-average",
        program_shape=(S, S), random_state=seed, **embed)._inner_estimator(oracle).fit(X, y)
    probe = bar.score(X_test, y_test)
    net = _pretrained("efficientnet-lite0")
    mask = torch.from_numpy(bar.mask_)
    samples = torch.from_numpy(bar.reprogram(X)) * (1.0 - mask)
    upsample = torch.from_numpy(bilinear_matrix(96, S)).float()
    average = torch.from_numpy(label_map_prior(bar.label_map_, 1000)).float()
    targets = torch.from_numpy(np.searchsorted(bar.classes_, y))

    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=learning_rate)
    rng = np.random.RandomState(seed)
    started = time.perf_counter()
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(len(samples), 32, replace=False))
        w = torch.einsum("Hh,hwc,Ww->HWc", upsample, make_w(), upsample)
        frame = mask * (torch.tanh(w) + 1) * 0.5
        log_proba = torch.log_softmax(net(_to_model_input(samples[idx] + frame)), 1)
        # The five best scores; the others one nat below the lowest (skbar.heads.log_scores).
        top = torch.topk(log_proba, 5, 1)
        floor = (top.values[:, -1:] - 1.0).expand_as(log_proba)
        log_scores = floor.scatter(1, top.indices, top.values)
        p = torch.softmax(log_scores @ average.T, 1)[torch.arange(32), targets[idx]]
        p = p.clamp_min(1e-12)
        loss = torch.mean(-(1 - p) ** 2 * torch.log(p))  # focal, gamma = 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    # Read through the black-box estimator, its head refitted on the trained program.
    bar.program_ = make_w().detach().numpy().astype(bar.program_.dtype)
    bar.set_params(select="last")
    bar.refit_head(X, y)
    n_numbers = sum(p.numel() for p in params)
    print(f"seed {seed}, {family} ({n_numbers} numbers), {steps} steps at {learning_rate}: "
          f"test accuracy {bar.score(X_test, y_test):.3f} (probe {probe:.3f}), "
          f"{time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
