"""How good is a zeroth-order gradient estimate on top five answers? Measured against torch.

An experiment, not a part of skbar (it needs the ``torch`` extra). The oracle is the
benchmark's ``digits-top5`` (EfficientNet-Lite0 at 96 px answering its five best classes,
digits at 64 px), and the loss the one skbar's defaults search there: the focal loss of the
multi-label average in the log domain (``m = 3``, frequency mapping), the classes left out
of the answer read one nat below the lowest score given (:func:`skbar.heads.log_scores`).
Torch computes the same loss, so its true gradient can be set beside the estimates.

Two figures, at the grey frame (``W = 0``), for an 8x8 and a 32x32 program:

1. The cosine between the gradient on the whole training set and one step's estimate:
   the true gradient on a minibatch of 32 (what white-box reprogramming steps on), and
   SPSA with ``q = 5`` two-sided random-sign directions on the same 32 samples (the
   defaults' step, 320 queries), the directions shared by the minibatch (skbar) or drawn
   for each sample on its own (the same queries). Mean and spread over ``--repeats``
   minibatches.
2. How well one finite difference measures the true directional derivative: the
   correlation, over ``--repeats`` minibatches x 5 directions, of
   ``(f(w + beta u) - f(w - beta u)) / (2 beta)`` with ``u . grad f``, for several
   ``beta`` (skbar's default is 0.01), with the defaults' reading of left-out scores and
   with the left-out scores at the lowest score given (no jump when a label enters or
   leaves the top five).

    python experiments/gradient_quality.py
"""

import argparse

import numpy as np
from _benchmark import load_task

from skbar import zoo
from skbar.baselines import (WhiteBoxReprogrammingClassifier, _import_torch, _pretrained,
                             _to_model_input)
from skbar.heads import label_map_prior
from skbar.oracles import TopKOracle
from skbar.canvas import bilinear_matrix


class TopFiveLoss:
    """The per-sample search loss of the defaults on top five answers, in torch."""

    def __init__(self, seed):
        torch = _import_torch()
        X, y, _, _, embed = load_task("digits-top5", seed)
        oracle = TopKOracle(zoo.load("efficientnet-lite0", image_size=96, n_threads=1), 5)
        # The mapping and the embedding of the black-box defaults' start (m = 3 on top five).
        reader = WhiteBoxReprogrammingClassifier(
            image_size=96, embed_size=64, m=3, top_k=5, max_iter=0,
            random_state=seed, **embed)._inner_estimator(oracle).fit(X, y)
        self.net = _pretrained("efficientnet-lite0")
        self.mask = torch.from_numpy(reader.mask_)
        self.samples = torch.from_numpy(reader.reprogram(X)) * (1.0 - self.mask)
        self.average = torch.from_numpy(label_map_prior(reader.label_map_, 1000)).float()
        self.y = torch.from_numpy(np.searchsorted(reader.classes_, y))

    def __call__(self, w, idx, upsample, gap=1.0):
        """Losses of samples ``idx``, each under its own program ``w[i]`` (8x8 or 32x32),
        the labels left out of the top five read ``gap`` nats below the lowest given."""
        torch = _import_torch()
        frame = self.mask * (torch.tanh(torch.einsum("Hh,nhwc,Ww->nHWc", upsample, w, upsample))
                             + 1.0) * 0.5
        log_proba = torch.log_softmax(self.net(_to_model_input(self.samples[idx] + frame)), 1)
        top = torch.topk(log_proba, 5, dim=1)
        floor = top.values[:, -1:] - gap
        log_scores = floor.expand_as(log_proba).scatter(1, top.indices, top.values)
        p = torch.softmax(log_scores @ self.average.T, 1)[torch.arange(len(idx)), self.y[idx]]
        p = p.clamp_min(1e-12)
        return -(1.0 - p) ** 2 * torch.log(p)


def true_gradient(loss, idx, size, upsample, gap=1.0):
    """The gradient of the mean loss over ``idx`` at ``W = 0``, flattened."""
    torch = _import_torch()
    w = torch.zeros(size, size, 3, requires_grad=True)
    losses = loss(w.expand(len(idx), -1, -1, -1), idx, upsample, gap)
    return torch.autograd.grad(losses.mean(), w)[0].flatten().numpy()


def spsa_estimate(loss, idx, size, upsample, rng, shared, q=5, beta=0.01):
    """SPSA's estimate at ``W = 0`` from ``q`` two-sided differences per sample."""
    torch = _import_torch()
    n, d = len(idx), size * size * 3
    estimate = np.zeros(d)
    with torch.no_grad():
        for _ in range(q):
            signs = rng.choice([-1.0, 1.0], size=(1 if shared else n, size, size, 3))
            u = torch.from_numpy(np.broadcast_to(signs, (n, size, size, 3)).copy()).float()
            slope = (loss(beta * u, idx, upsample) - loss(-beta * u, idx, upsample)) / (2 * beta)
            estimate += (slope.numpy()[:, None] * u.reshape(n, d).numpy()).sum(0)
    return estimate / (q * n)


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch = _import_torch()
    torch.set_num_threads(args.threads)
    loss = TopFiveLoss(args.seed)
    n = len(loss.samples)
    batch = 32
    print(f"digits-top5, seed {args.seed}, W = 0, minibatches of {batch}, "
          f"{args.repeats} repeats")
    for size in (8, 32):
        upsample = torch.from_numpy(bilinear_matrix(96, size)).float()
        everything = np.zeros(size * size * 3)
        for start in range(0, n, 128):
            idx = torch.arange(start, min(start + 128, n))
            everything += true_gradient(loss, idx, size, upsample) * len(idx) / n
        rng = np.random.RandomState(args.seed)
        cosines = {"true gradient, 32 samples": [], "SPSA q=5, shared directions": [],
                   "SPSA q=5, a direction per sample": []}
        for _ in range(args.repeats):
            idx = torch.from_numpy(rng.choice(n, batch, replace=False))
            estimates = [true_gradient(loss, idx, size, upsample),
                         spsa_estimate(loss, idx, size, upsample, rng, shared=True),
                         spsa_estimate(loss, idx, size, upsample, rng, shared=False)]
            for name, estimate in zip(cosines, estimates):
                cosines[name].append(cosine(estimate, everything))
        print(f"\n{size}x{size}x3 program (d = {size * size * 3}): cosine with the "
              "gradient on all training samples")
        for name, values in cosines.items():
            print(f"  {name:36s} {np.mean(values):6.3f} +- {np.std(values):.3f}")

        print(f"{size}x{size}x3: correlation of a finite difference with the true "
              "directional derivative")
        rng = np.random.RandomState(args.seed + 1)
        draws = [(torch.from_numpy(rng.choice(n, batch, replace=False)),
                  torch.from_numpy(rng.choice([-1.0, 1.0], size=(5, size, size, 3))).float())
                 for _ in range(args.repeats)]
        for gap, name in ((1.0, "left-out one nat below (skbar)"),
                          (0.0, "left-out at the lowest given")):
            exact, row = [], []
            for idx, directions in draws:
                gradient = true_gradient(loss, idx, size, upsample, gap)
                exact += [float(u.flatten().numpy() @ gradient) for u in directions]
            for beta in (0.03, 0.01, 0.003, 0.001):
                slopes = []
                with torch.no_grad():
                    for idx, directions in draws:
                        for u in directions:
                            u = u[None].expand(batch, -1, -1, -1)
                            slopes.append(float(((loss(beta * u, idx, upsample, gap)
                                                  - loss(-beta * u, idx, upsample, gap))
                                                 / (2 * beta)).mean()))
                row.append(f"beta {beta:g}: {np.corrcoef(exact, slopes)[0, 1]:.2f}")
            print(f"  {name:36s} " + ", ".join(row))


if __name__ == "__main__":
    main()
