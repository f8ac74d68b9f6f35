import numpy as np
import pytest

from skbar.optim import CMAES, SGD, SPSAGC, Adam, RandomDirectionEstimator


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
    estimator = RandomDirectionEstimator(q=q, beta=1e-4, antithetic=antithetic)
    cosines = []
    for _ in range(trials):
        g, _ = estimator.estimate(f, w, rng)
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
    estimator = RandomDirectionEstimator(q=5, beta=1e-5)
    w = np.ones(d)
    mean = np.mean([estimator.estimate(f, w, rng)[0] for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, grad(w), atol=0.15 * np.linalg.norm(grad(w)) / np.sqrt(d))


def test_evaluation_counts_and_loss_value():
    f, _ = _quadratic(10)
    calls = []

    def counted(w):
        calls.append(1)
        return f(w)

    w = np.zeros(10)
    one_sided = RandomDirectionEstimator(q=7)
    _, f_w = one_sided.estimate(counted, w, np.random.RandomState(0))
    assert len(calls) == one_sided.n_evaluations() == 8 and f_w == f(w)
    calls.clear()
    two_sided = RandomDirectionEstimator(q=7, antithetic=True)
    two_sided.estimate(counted, w, np.random.RandomState(0))
    assert len(calls) == two_sided.n_evaluations() == 14


def test_antithetic_directions_cancel_the_curvature_error_near_a_minimum():
    # Near the minimum, a one-sided difference is dominated by the curvature term
    # beta/2 u'Hu, which two-sided differences cancel.
    d = 50
    f, grad = _quadratic(d)
    w = _minimum(d) + 0.1
    errors = {}
    for antithetic in (False, True):
        est = RandomDirectionEstimator(q=25, beta=1.0, antithetic=antithetic)
        errors[antithetic] = np.mean([
            np.linalg.norm(est.estimate(f, w, np.random.RandomState(s))[0] - grad(w))
            for s in range(100)]) / np.linalg.norm(grad(w))
    assert errors[True] < 0.4 * errors[False], errors


def _minimum(d, seed=0):
    rng = np.random.RandomState(seed)
    rng.uniform(0.5, 2.0, d)
    return rng.randn(d)


@pytest.mark.parametrize("optimizer", [SGD(0.1), Adam(0.1), SPSAGC(0.1)])
def test_optimizers_descend_on_estimated_gradients_and_resume_exactly(optimizer):
    f, _ = _quadratic(30)
    est = RandomDirectionEstimator(q=10, beta=1e-3)
    rng = np.random.RandomState(0)
    w = np.zeros(30)
    start = f(w)
    for _ in range(150):
        g, _ = est.estimate(f, w, rng)
        w = optimizer.step(w, g)
    assert f(w) < 0.2 * start
    clone = type(optimizer)(0.1)
    clone.set_state(optimizer.get_state())
    g = np.ones(30)
    np.testing.assert_array_equal(clone.step(w, g), optimizer.step(w, g))


def test_spsa_directions_are_random_signs_and_unbiased_with_b_equal_1():
    d = 20
    f, grad = _quadratic(d)
    estimator = RandomDirectionEstimator(q=5, beta=1e-5, distribution="rademacher",
                                         antithetic=True)
    seen = []

    def recording(w):
        seen.append(w.copy())
        return f(w)

    w = np.ones(d)
    estimator.estimate(recording, w, np.random.RandomState(0))
    # Each perturbation moves every coordinate by exactly +-beta.
    np.testing.assert_allclose(np.abs(seen[0] - w), 1e-5, rtol=1e-6)
    rng = np.random.RandomState(0)
    mean = np.mean([estimator.estimate(f, w, rng)[0] for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, grad(w), atol=0.15 * np.linalg.norm(grad(w)) / np.sqrt(d))


def test_spsa_gc_estimates_the_gradient_at_the_look_ahead_point():
    f, grad = _quadratic(10)
    optimizer = SPSAGC(learning_rate=0.1, momentum=0.9)
    w = np.zeros(10)
    np.testing.assert_array_equal(optimizer.lookahead(w), w)  # no momentum yet
    w_next = optimizer.step(w, grad(w))
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

    def run(seed):
        es, rng, w = CMAES(sigma=0.5), np.random.RandomState(seed), np.zeros(d)
        for _ in range(60):
            w, _ = es.search_step(counted, w, rng)
        return w, es

    w, es = run(0)
    assert len(calls) == 60 * es.n_evaluations(d) == 60 * (4 + int(3 * np.log(d)))
    assert f(w) < 0.05 * f(np.zeros(d))
    np.testing.assert_array_equal(run(0)[0], w)  # the fit's random state draws the candidates
    state = es.get_state()
    assert float(state["sigma"]) > 0 and int(state["generation"]) == 60


def test_cma_es_names_the_missing_package(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cma", None)
    with pytest.raises(ImportError, match="optimizer='cma' needs the cma package"):
        CMAES().search_step(lambda w: 0.0, np.zeros(3), np.random.RandomState(0))


def test_bad_estimator_settings_name_the_argument():
    with pytest.raises(ValueError, match="q must"):
        RandomDirectionEstimator(q=0)
    with pytest.raises(ValueError, match="beta"):
        RandomDirectionEstimator(beta=0)
    with pytest.raises(ValueError, match="distribution must be"):
        RandomDirectionEstimator(distribution="uniform")
    with pytest.raises(ValueError, match="momentum"):
        SPSAGC(momentum=1.0)
    with pytest.raises(ValueError, match="sigma"):
        CMAES(sigma=0)
