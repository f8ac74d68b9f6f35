import numpy as np
import pytest

from skbar.optim import CMAES, SGD, SPSA, SPSAGC, Adam, RandomDirections, estimate_gradient


def _quadratic(d, seed=0):
    rng = np.random.RandomState(seed)
    scales = rng.uniform(0.5, 2.0, d)
    center = rng.randn(d)

    def f(w):
        return float(0.5 * np.sum(scales * (w.ravel() - center) ** 2))

    def grad(w):
        return scales * (w.ravel() - center)

    return f, grad


def _mean_cosine(q, antithetic=False, d=200, trials=30):
    f, grad = _quadratic(d)
    rng = np.random.RandomState(1)
    w = np.zeros(d)
    estimator = RandomDirections(beta=1e-4, antithetic=antithetic)
    cosines = []
    for _ in range(trials):
        g, _ = estimate_gradient(f, w, q, estimator, rng)
        true = grad(w)
        cosines.append(g @ true / (np.linalg.norm(g) * np.linalg.norm(true)))
    return float(np.mean(cosines))


def test_estimate_aligns_with_the_true_gradient_more_as_q_grows():
    cosines = [_mean_cosine(q) for q in (1, 10, 50, 200)]
    assert all(a < b for a, b in zip(cosines, cosines[1:])), cosines
    # For directions on the sphere the cosine is about sqrt(q / d).
    assert 0.15 < cosines[1] < 0.35 and cosines[3] > 0.6, cosines


def test_estimate_with_b_equal_d_is_unbiased_for_a_quadratic():
    d = 20
    f, grad = _quadratic(d)
    rng = np.random.RandomState(0)
    estimator = RandomDirections(beta=1e-5)
    w = np.ones(d)
    mean = np.mean([estimate_gradient(f, w, 5, estimator, rng)[0] for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, grad(w), atol=0.15 * np.linalg.norm(grad(w)) / np.sqrt(d))


def test_evaluation_counts_and_loss_value():
    f, _ = _quadratic(10)
    calls = []

    def counted(w):
        calls.append(1)
        return f(w)

    w = np.zeros(10)
    one_sided = RandomDirections()
    _, f_w = estimate_gradient(counted, w, 7, one_sided, np.random.RandomState(0))
    assert len(calls) == one_sided.n_evaluations(7) == 8 and f_w == f(w)
    calls.clear()
    two_sided = RandomDirections(antithetic=True)
    estimate_gradient(counted, w, 7, two_sided, np.random.RandomState(0))
    assert len(calls) == two_sided.n_evaluations(7) == 14


def test_antithetic_directions_cancel_the_curvature_error_near_a_minimum():
    # Near the minimum, a one-sided difference is dominated by the curvature term
    # beta/2 u'Hu, which two-sided differences cancel.
    d = 50
    f, grad = _quadratic(d)
    w = _minimum(d) + 0.1
    errors = {}
    for antithetic in (False, True):
        est = RandomDirections(beta=1.0, antithetic=antithetic)
        errors[antithetic] = np.mean([
            np.linalg.norm(estimate_gradient(f, w, 25, est, np.random.RandomState(s))[0] - grad(w))
            for s in range(100)]) / np.linalg.norm(grad(w))
    assert errors[True] < 0.4 * errors[False], errors


def _minimum(d, seed=0):
    rng = np.random.RandomState(seed)
    rng.uniform(0.5, 2.0, d)
    return rng.randn(d)


def _run(optimizer, f, w, steps, q=10, gradient=None, seed=0):
    """``steps`` of ask / tell on ``f`` from ``w``; the optimiser, at its last program."""
    optimizer.start(w, q, gradient or RandomDirections(beta=1e-3), np.random.RandomState(seed))
    for _ in range(steps):
        optimizer.tell([f(c) for c in optimizer.ask()])
    return optimizer


@pytest.mark.parametrize("optimizer", [SGD(0.1), Adam(0.1), SPSAGC(0.1)])
def test_optimizers_descend_on_estimated_gradients_and_resume_exactly(optimizer):
    f, _ = _quadratic(30)
    w = np.zeros(30)
    _run(optimizer, f, w, 150)
    assert f(optimizer.w_) < 0.2 * f(w)
    # A new optimiser started at the same program with the saved state takes the same
    # next step as the one that went on (same random stream).
    state, rng_state = optimizer.get_state(), optimizer.rng_.get_state()
    resumed = type(optimizer)(0.1).start(optimizer.w_, 10, optimizer.gradient_,
                                         np.random.RandomState(0))
    resumed.set_state(state)
    resumed.rng_.set_state(rng_state)
    for opt in (optimizer, resumed):
        opt.tell([f(c) for c in opt.ask()])
    np.testing.assert_array_equal(resumed.w_, optimizer.w_)


def test_spsa_directions_are_random_signs_and_unbiased_with_b_equal_1():
    d = 20
    f, grad = _quadratic(d)
    estimator = SPSA(beta=1e-5)
    w = np.ones(d)
    points, _ = estimator.perturb(w, 5, np.random.RandomState(0))
    # Each perturbation moves every coordinate by exactly +-beta.
    np.testing.assert_allclose(np.abs(points[0] - w), 1e-5, rtol=1e-6)
    rng = np.random.RandomState(0)
    mean = np.mean([estimate_gradient(f, w, 5, estimator, rng)[0] for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, grad(w), atol=0.15 * np.linalg.norm(grad(w)) / np.sqrt(d))


def test_spsa_gc_estimates_the_gradient_at_the_look_ahead_point():
    f, grad = _quadratic(10)
    optimizer = SPSAGC(learning_rate=0.1, momentum=0.9).start(np.zeros(10), 1, SPSA(), None)
    w = np.zeros(10)
    np.testing.assert_array_equal(optimizer.lookahead(w), w)  # no momentum yet
    w_next = optimizer.update(w, grad(w))
    velocity = w_next - w
    np.testing.assert_allclose(optimizer.lookahead(w_next), w_next + 0.9 * velocity)
    # Spall's gain: a_t = 0.1 / (t + 1) ** 0.602, so the first step is -0.1 g.
    np.testing.assert_allclose(velocity, -0.1 * grad(w))


def test_cma_es_descends_from_losses_alone_reproducibly_and_counts_its_candidates():
    pytest.importorskip("cma", reason="CMA-ES is the optional `es` extra")
    d = 12
    f, _ = _quadratic(d)
    calls = []

    def counted(w):
        calls.append(1)
        return f(w)

    q = 4 + int(3 * np.log(d))  # cma's own population for d = 12
    es = _run(CMAES(sigma=0.5), counted, np.zeros(d), 60, q=q)
    assert len(calls) == 60 * es.n_evaluations(q, None) == 60 * 11
    assert f(es.w_) < 0.05 * f(np.zeros(d))
    # The fit's random state draws the candidates: the same seed, the same search.
    np.testing.assert_array_equal(_run(CMAES(sigma=0.5), f, np.zeros(d), 60, q=q).w_, es.w_)
    state = es.get_state()
    assert float(state["sigma"]) > 0 and int(state["t"]) == 60


def test_cma_es_names_the_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cma", None)
    with pytest.raises(ImportError, match="optimizer='cma' needs the cma package"):
        CMAES().start(np.zeros(3), 5, None, np.random.RandomState(0)).ask()


def test_bad_estimator_settings_name_the_argument():
    w, rng = np.zeros(3), np.random.RandomState(0)
    with pytest.raises(ValueError, match="'q' parameter"):
        estimate_gradient(lambda w: 0.0, w, 0, SPSA(), rng)
    with pytest.raises(ValueError, match="'beta' parameter of RandomDirections"):
        RandomDirections(beta=0).perturb(w, 2, rng)
    with pytest.raises(ValueError, match="'distribution' parameter of RandomDirections"):
        RandomDirections(distribution="uniform").perturb(w, 2, rng)
    with pytest.raises(ValueError, match="'momentum' parameter of SPSAGC"):
        SPSAGC(momentum=1.0).start(w, 2, SPSA(), rng)
    with pytest.raises(ValueError, match="'sigma' parameter of CMAES"):
        CMAES(sigma=0).start(w, 2, None, rng)
    with pytest.raises(ValueError, match="q >= 2"):
        CMAES().start(w, 1, None, rng)
