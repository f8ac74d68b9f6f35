"""skbar.baselines: white-box AR and fine-tuning run the zoo's own model in torch; without
torch the module still imports and says which extra to install."""

import importlib
import sys

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skbar
from skbar.baselines import (
    FineTuningClassifier,
    WhiteBoxReprogrammingClassifier,
    _pretrained,
    _to_model_input,
    torch_available,
)
from skbar.datasets import correlation_to_pixels, make_asd_cohort

requires_torch = pytest.mark.skipif(
    not torch_available(),
    reason="white-box baselines are the optional `torch` extra (pip install 'skbar[torch]')")


def test_the_module_imports_without_torch_and_names_the_extra_when_used(monkeypatch):
    # None in sys.modules makes `import torch` raise ImportError, as where it is not
    # installed; the module is imported afresh under that condition.
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.delitem(sys.modules, "skbar.baselines", raising=False)
    monkeypatch.delattr(skbar, "baselines", raising=False)
    baselines = importlib.import_module("skbar.baselines")

    assert not baselines.torch_available()
    X, y = make_asd_cohort(4, 4, n_regions=8, random_state=0, return_X_y=True)
    for estimator in (baselines.WhiteBoxReprogrammingClassifier(),
                      baselines.FineTuningClassifier()):
        with pytest.raises(ImportError, match=r"pip install 'skbar\[torch\]'"):
            estimator.fit(X, y)


@requires_torch
def test_white_box_reprogramming_uses_the_oracles_model():
    import torch

    from skbar import zoo

    # The torch network the gradients come from is the black-box oracle's model.
    canvases = np.random.RandomState(0).rand(3, 64, 64, 3).astype(np.float32)
    with torch.no_grad():
        logits = _pretrained("efficientnet-lite0")(_to_model_input(torch.from_numpy(canvases)))
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(),
                               zoo.load(image_size=64).predict_proba(canvases), atol=1e-4)

    X, y = make_asd_cohort(8, 8, n_regions=16, random_state=0, return_X_y=True)
    ar = make_pipeline(FunctionTransformer(correlation_to_pixels), WhiteBoxReprogrammingClassifier(
        image_size=64, embed_size=32, rescale=False, m=2, max_iter=2, batch_size=4,
        random_state=0)).fit(X, y)
    fitted = ar[-1]
    assert fitted.n_queries_ == len(X) + 2 * 4  # frequency mapping, then 2 minibatches
    assert np.any(fitted.bar_.program_ != 0)
    # The true gradient is 0 under the sample (M = 0 there): W moves only on the frame.
    assert np.all(fitted.bar_.program_[fitted.bar_.mask_ == 0] == 0)
    assert set(ar.predict(X)) <= {0, 1}

    # With the black-box estimator's learned head: trained jointly with W, then refitted
    # on the outputs under the final program (a pass over X). A callback can stop it.
    steps = []
    linear = WhiteBoxReprogrammingClassifier(
        image_size=64, embed_size=32, rescale=False, m=2, max_iter=5, batch_size=4,
        output_mapping="linear", random_state=0,
        callback=lambda est, info: steps.append(info["n_queries"]) or len(steps) == 3)
    linear.fit((X + 1) / 2, y)
    assert steps == [len(X) + 4, len(X) + 8, len(X) + 12] and linear.n_iter_ == 3
    assert linear.n_queries_ == len(X) + 3 * 4 + len(X)
    assert linear.bar_.head_.coef_.shape == (2, 1000)
    assert set(linear.predict((X + 1) / 2)) <= {0, 1}



@requires_torch
def test_white_box_reprogramming_through_top_k_answers():
    import torch

    # With top_k the gradient flows through the k best scores only: a program trained on
    # what a top-k API answers. Its mapping and predictions query the top-k answers.
    X, y = make_asd_cohort(8, 8, n_regions=16, random_state=0, return_X_y=True)
    ar = WhiteBoxReprogrammingClassifier(
        image_size=64, embed_size=32, rescale=False, m=2, max_iter=2, batch_size=4,
        output_mapping="log-average", top_k=5, random_state=0)
    ar.fit(correlation_to_pixels(X), y)
    assert isinstance(ar.bar_.oracle, skbar.oracles.TopKOracle) and ar.bar_.oracle.k == 5
    # Frequency mapping, two minibatches, then the head's pass under the final program.
    assert ar.n_queries_ == len(X) + 2 * 4 + len(X)
    assert np.any(ar.bar_.program_ != 0)
    assert ar.bar_.head_.coef_.shape == (2, 1000)

    # The log scores the objective reads: the five best, and one nat below the lowest of
    # them for every class left out; no gradient reaches a class left out.
    log_proba = torch.log_softmax(torch.randn(3, 1000), dim=1).requires_grad_()
    answers = ar._log_answers(log_proba)
    top = torch.topk(log_proba, 5, dim=1)
    np.testing.assert_allclose(torch.gather(answers, 1, top.indices).detach(), top.values.detach())
    left_out = torch.ones_like(answers, dtype=torch.bool).scatter(1, top.indices, False)
    np.testing.assert_allclose(answers[left_out].view(3, 995).detach(),
                               (top.values[:, -1:] - 1.0).expand(3, 995).detach())
    answers[left_out].sum().backward()
    assert torch.all(log_proba.grad[left_out] == 0)

    with pytest.raises(ValueError, match="top_k must be None or a positive integer, got 0"):
        WhiteBoxReprogrammingClassifier(top_k=0).fit(X, y)
    with pytest.raises(ValueError, match="output_mapping must be .* got 'mean'"):
        WhiteBoxReprogrammingClassifier(output_mapping="mean").fit(X, y)


@requires_torch
def test_fine_tuning_trains_a_new_head_on_the_same_network():
    X, y = make_asd_cohort(6, 6, n_regions=16, random_state=0, return_X_y=True)
    before = _pretrained("efficientnet-lite0")._conv_stem.weight.clone()
    tuned = FineTuningClassifier(image_size=32, epochs=2, batch_size=6, random_state=0).fit(X, y)
    assert tuned.n_queries_ == 2 * len(X)
    assert tuned.model_._fc.out_features == 2 and len(tuned.loss_curve_) == 4
    # All weights were trained, on a copy: the shared pretrained network is untouched.
    assert not np.array_equal(tuned.model_._conv_stem.weight.numpy(), before.numpy())
    np.testing.assert_array_equal(_pretrained("efficientnet-lite0")._conv_stem.weight, before)
    proba = tuned.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
