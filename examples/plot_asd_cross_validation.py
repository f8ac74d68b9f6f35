"""
====================================================
10-fold cross-validation on the simulated ASD cohort
====================================================

The paper's first task: autism spectrum disorder (ASD) against controls, from one
correlation matrix of brain regions per subject, reprogramming an ImageNet model. The data
here are **simulated** (:func:`skbar.datasets.make_asd_cohort`, shaped like ABIDE) and
nothing in them is real; :func:`skbar.datasets.load_abide` reads the real data set when
you have it.

A pipeline maps the correlations to pixels and reprograms the built-in model (at 32
pixels, 1,000 queries a fold, so the ten folds take seconds). The linear probe, logistic
regression on the model's outputs with no program, is the baseline it is compared to on
the same folds. ``examples/asd_cross_validation.py`` runs the full experiment.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import warnings

from skbar import BlackBoxReprogrammingClassifier, ProbeShippedWarning, zoo
from skbar.datasets import correlation_to_pixels, load_asd_task

task = load_asd_task(n_asd=60, n_control=60, n_regions=32, random_state=0)
print(task.data.shape, np.bincount(task.target))

oracle = zoo.load("efficientnet-lite0", image_size=32)
bar = make_pipeline(
    FunctionTransformer(correlation_to_pixels),
    BlackBoxReprogrammingClassifier(oracle, rescale=False, embed_size=24, q=2, batch_size=16,
                                    max_queries=1000, max_iter=10**6, random_state=0))
folds = StratifiedKFold(10, shuffle=True, random_state=0)
# A fold whose searched program reads no better than its grey frame ships the grey frame
# (the probe) and says so with a ProbeShippedWarning; the scores count each fold as shipped.
warnings.simplefilter("ignore", ProbeShippedWarning)
scores = cross_val_score(bar, task.data, task.target, cv=folds)
print(f"BAR: {scores.mean():.3f} ± {scores.std():.3f} over 10 folds")

# %%
# The probe: the same embedding with the program left grey (``max_iter=0``), and the
# learned output mapping alone.
probe = make_pipeline(
    FunctionTransformer(correlation_to_pixels),
    BlackBoxReprogrammingClassifier(oracle, rescale=False, embed_size=24, max_iter=0,
                                    random_state=0))
probe_scores = cross_val_score(probe, task.data, task.target, cv=folds)
print(f"probe: {probe_scores.mean():.3f} ± {probe_scores.std():.3f}")

# %%
# With a few steps per fold the program has barely moved, and the search's minibatch
# noise can cost what the probe had: at budgets this small the probe is the honest
# baseline (see :ref:`when-to-use`).

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.boxplot([scores, probe_scores], tick_labels=["BAR", "probe (no program)"])
ax.axhline(0.5, linestyle=":", color="grey", label="chance")
ax.set_ylabel("accuracy per fold")
ax.set_title("SIMULATED ASD cohort, 10 folds")
ax.legend()
fig.tight_layout()
plt.show()
