"""White-box baselines on the same source model: reprogramming with true gradients, fine-tuning.

They are what a user with the model's weights could do instead of querying it as a black
box, and so the references BAR is measured against (Tsai et al., 2020, Table 1):

- :class:`WhiteBoxReprogrammingClassifier`: adversarial reprogramming (AR, Elsayed et al.
  2019), BAR's program trained on the gradient obtained by backpropagation;
- :class:`FineTuningClassifier`: every weight of the network trained for the target task.

Optional: they need the ``torch`` extra, ``pip install 'skbar[torch]'`` (torch and
efficientnet-lite-pytorch, the architecture the zoo's weights were published for). This
module imports without it: torch is imported only when a baseline is fitted or used, and
then an :class:`ImportError` names the extra. :func:`torch_available` says beforehand.

The weights are the zoo's own (:mod:`skbar.zoo`), so the torch network and the black-box
ONNX oracle are the same model.
"""

import copy
import functools

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._classifier import BlackBoxReprogrammingClassifier
from .losses import focal_loss
from .canvas import bilinear_matrix, match_channels, resize_images, to_images
from .heads import LinearHead, label_map_prior
from .oracles import TopKOracle

__all__ = ["FineTuningClassifier", "WhiteBoxReprogrammingClassifier", "torch_available"]

# The zoo's EfficientNet-Lite normalisation, (x * 255 - 127) / 128 (see skbar.zoo._models).
_SCALE, _MEAN, _STD = 255.0, 127.0, 128.0
_MISSING = ("skbar's white-box baselines need torch and efficientnet-lite-pytorch: "
            "pip install 'skbar[torch]'")


def _import_torch():
    """The ``torch`` module, or an ImportError that says which extra to install.

    Every use of torch here goes through this function, so that importing
    :mod:`skbar.baselines` needs no torch and using it without torch fails clearly.
    """
    try:
        import efficientnet_lite_pytorch  # noqa: F401
        import torch
    except ImportError as err:
        raise ImportError(_MISSING) from err
    return torch


def torch_available():
    """Whether the white-box baselines can run here.

    Returns
    -------
    bool
        True when torch and efficientnet-lite-pytorch import (the ``torch`` extra).
    """
    try:
        _import_torch()
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _pretrained(name):
    """The zoo model ``name`` as a torch module in eval mode with frozen weights.

    Cached: one copy per process, shared by every fit (fine-tuning trains a deep copy).
    """
    torch = _import_torch()
    from efficientnet_lite_pytorch import EfficientNet

    from .zoo._models import _weights_path

    model = EfficientNet.from_name(name)
    # weights_only: the file is a plain state dict, so nothing in it needs unpickling
    # as code.
    model.load_state_dict(torch.load(_weights_path(name), weights_only=True))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _to_model_input(canvases):
    """Canvases ``(n, H, W, C)`` in [0, 1] (a tensor) as the network's normalised NCHW input."""
    return (canvases.permute(0, 3, 1, 2) * _SCALE - _MEAN) / _STD


def _set_threads(n_threads):
    """Run torch on ``n_threads`` threads; leave its default when None."""
    torch = _import_torch()
    if n_threads is not None:
        torch.set_num_threads(int(n_threads))


def _native_resolution(name):
    """The input side, in pixels, the zoo model ``name`` was trained at."""
    from .zoo import _efficientnet_lite

    return _efficientnet_lite.VARIANTS[name].resolution


class WhiteBoxReprogrammingClassifier(ClassifierMixin, BaseEstimator):
    """Adversarial reprogramming (AR, Elsayed et al. 2019): BAR's program, true gradients.

    The white-box reference of Tsai et al. (2020), Table 1: the same embedding, mask
    ``M``, program ``P = tanh(W ⊙ M)``, multi-label mapping and loss as
    :class:`~skbar.BlackBoxReprogrammingClassifier`, but ``W`` is trained with Adam
    (or SGD) on the gradient obtained by backpropagation through the source model.

    The mapping and the predictions go through the black-box ONNX oracle of the zoo
    (an inner :class:`~skbar.BlackBoxReprogrammingClassifier` fitted with
    ``max_iter=0``); the gradient steps through the torch network built from the same
    weights. Needs the ``torch`` extra.

    Parameters
    ----------
    model : str, default="efficientnet-lite0"
        A :data:`skbar.zoo.MODELS` name.
    image_size : int, default=None
        Input resolution the model is run at; its own when None.
    sample_shape, embed_size, rescale, m, mapping, loss, gamma, program_shape
        As in :class:`~skbar.BlackBoxReprogrammingClassifier`.
    output_mapping : {"average", "log-average", "linear"}, default="average"
        The paper's AR (the fixed multi-label average); the same average in the log
        domain (the search objective of the black-box defaults on top-k answers,
        :class:`~skbar.heads.LinearHead`); or the black-box estimator's learned
        output mapping: a linear head on the log source scores, trained from zero
        jointly with ``W`` by backpropagation. For ``"log-average"`` and ``"linear"`` the
        head shipped is the ridge fit on the training set's outputs under the final
        program (one query per sample, as the black-box estimator's final pass).
    top_k : int, default=None
        Train on the model's ``k`` best scores only, as an API answering its top ``k``
        would give them: the gradient flows through those ``k`` scores, a class left
        out reads as :func:`skbar.heads.log_scores` reads it (one nat below the
        lowest score given), and the mapping and predictions query
        :class:`~skbar.oracles.TopKOracle`. What a program can learn from the answers a
        black-box search sees, with true gradients; None trains on every score.
    output_alpha : float, default=10.0
        L2 regularisation of the ridge head.
    head_init : {"zero", "ridge"}, default="zero"
        Where the jointly trained linear head starts: at zero, or at the ridge fit on
        the training outputs under the initial program (the black-box estimator's
        start). From the ridge fit the float32 loss is 0 on most of the training set,
        so ``W`` soon gets no gradient and stops moving.
    optimizer : {"adam", "sgd"}, default="adam"
    learning_rate : float, default=0.05
    batch_size : int, default=16
    max_iter : int, default=100
        Gradient steps.
    n_threads : int, default=None
        Threads of torch and ONNX Runtime in this process; their defaults when None.
    callback : callable, default=None
        ``callback(estimator, info)`` after every step, with ``bar_.program_`` set to the
        program so far; returning True stops the fit.
    random_state : int or None, default=None

    Attributes
    ----------
    bar_ : BlackBoxReprogrammingClassifier
        Holds the trained ``program_``, ``label_map_``, ``mask_``; predicts.
    classes_ : ndarray
    n_iter_ : int
        Gradient steps taken.
    n_queries_ : int
        Images through the source model during ``fit``: the oracle's (mapping) plus
        ``n_backward_``.
    n_backward_ : int
        Images with a forward and backward pass through the torch network.
    loss_curve_ : list of float
    """

    def __init__(self, model="efficientnet-lite0", *, image_size=None, sample_shape=None,
                 embed_size=None, rescale=True, m=3, mapping="frequency", loss="focal",
                 gamma=2.0, program_shape=None, output_mapping="average", output_alpha=10.0,
                 head_init="zero", top_k=None,
                 optimizer="adam", learning_rate=0.05, batch_size=16, max_iter=100,
                 n_threads=None, callback=None, random_state=None):
        self.model = model
        self.image_size = image_size
        self.sample_shape = sample_shape
        self.embed_size = embed_size
        self.rescale = rescale
        self.m = m
        self.mapping = mapping
        self.loss = loss
        self.gamma = gamma
        self.program_shape = program_shape
        self.output_mapping = output_mapping
        self.output_alpha = output_alpha
        self.head_init = head_init
        self.top_k = top_k
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.n_threads = n_threads
        self.callback = callback
        self.random_state = random_state

    def _inner_estimator(self, oracle):
        """The black-box estimator that embeds, maps labels and predicts; it never steps.

        ``max_iter=0``: its fit only sets the mask, the label mapping (and the ridge head
        for ``output_mapping="linear"``) under the zero program; ``W`` is trained here.
        """
        head = ("average" if self.output_mapping == "average"
                else LinearHead(alpha=self.output_alpha))
        return BlackBoxReprogrammingClassifier(
            oracle, sample_shape=self.sample_shape, embed_size=self.embed_size,
            rescale=self.rescale, m=self.m, label_map=self.mapping,
            loss=functools.partial(focal_loss, gamma=self.gamma) if self.loss == "focal" else "ce",
            program_shape=self.program_shape, max_iter=0, head=head, views=1,
            select="last",
            batch_size=self.batch_size, random_state=self.random_state)

    def _refit_head(self, X, y):
        """Refit the linear head of ``bar_`` on the outputs under the final program.

        As the black-box estimator's final pass: one query per training sample, which
        this returns.
        """
        # The program trained here is shipped as it is (select="last"): the black-box
        # estimator's check against the program it started from is not the reference's.
        return self.bar_.refit_head(X, y)

    def fit(self, X, y):
        """Set the mapping through the oracle, then train ``W`` by backpropagation.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Target-task samples, as :class:`~skbar.BlackBoxReprogrammingClassifier` takes
            them.
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        torch = _import_torch()
        from . import zoo

        if self.output_mapping not in ("average", "log-average", "linear"):
            raise ValueError("output_mapping must be 'average', 'log-average' or 'linear', "
                             f"got {self.output_mapping!r}.")
        if self.top_k is not None and (isinstance(self.top_k, bool) or int(self.top_k) != self.top_k
                                       or self.top_k < 1):
            raise ValueError(f"top_k must be None or a positive integer, got {self.top_k!r}.")
        _set_threads(self.n_threads)
        net = _pretrained(self.model)
        oracle = zoo.load(self.model, image_size=self.image_size, n_threads=self.n_threads)
        if self.top_k is not None:
            oracle = TopKOracle(oracle, self.top_k)
        bar = self._inner_estimator(oracle).fit(X, y)
        y_encoded = np.searchsorted(bar.classes_, np.asarray(y))

        # Under the zero program the frame is grey and M is 0 over the sample, so the
        # sample's own pixels are the canvas times (1 - M).
        mask = torch.from_numpy(bar.mask_)
        samples = torch.from_numpy(bar.reprogram(X)) * (1.0 - mask)
        H, W_, _ = bar.canvas_shape_
        w_shape = bar.program_.shape
        up_rows = torch.from_numpy(bilinear_matrix(H, w_shape[0])).float()
        up_cols = torch.from_numpy(bilinear_matrix(W_, w_shape[1])).float()
        label_map = torch.from_numpy(bar.label_map_)
        targets = torch.from_numpy(y_encoded)

        w = torch.zeros(w_shape, requires_grad=True)
        parameters = [{"params": [w]}]
        linear = self.output_mapping == "linear"
        log_average = self.output_mapping == "log-average"
        prior = torch.from_numpy(label_map_prior(bar.label_map_, bar.n_source_classes_)).float()
        coef = intercept = None
        if linear:
            # The head is trained with W, from zero by default: started from the ridge
            # fit on these same training outputs, it is so confident that the float32
            # loss is 0 on most samples and W soon gets no gradient.
            ridge = self.head_init == "ridge"
            head = bar.head_
            coef = torch.tensor(head.coef_ if ridge else np.zeros_like(head.coef_),
                                dtype=torch.float32, requires_grad=True)
            intercept = torch.tensor(
                head.intercept_ if ridge else np.zeros_like(head.intercept_),
                dtype=torch.float32, requires_grad=True)
            # Its 1,000 inputs are log-probabilities of size ~10, so its step is 100x
            # smaller than the program's: logits then move by about 1 a step.
            parameters.append({"params": [coef, intercept], "lr": self.learning_rate / 100})
        step = torch.optim.Adam if self.optimizer == "adam" else torch.optim.SGD
        optimizer = step(parameters, lr=self.learning_rate)
        rng = check_random_state(self.random_state)
        gamma = self.gamma if self.loss == "focal" else 0.0
        n, batch = len(samples), min(self.batch_size, len(samples))
        self.loss_curve_ = []
        for _ in range(self.max_iter):
            idx = torch.from_numpy(rng.choice(n, size=batch, replace=False))
            frame = mask * (torch.tanh(torch.einsum("Hh,hwc,Ww->HWc", up_rows, w, up_cols))
                            + 1.0) * 0.5
            log_scores = self._log_answers(torch.log_softmax(
                net(_to_model_input(samples[idx] + frame)), dim=1))
            if linear:
                # skbar.heads.apply_linear_map: a softmax head on the log source scores.
                mapped = torch.softmax(log_scores @ coef.T + intercept, dim=1)
            elif log_average:
                mapped = torch.softmax(log_scores @ prior.T, dim=1)
            else:
                # The multi-label average of skbar.heads.apply_label_map, then eq. (3);
                # a class left out of a top-k answer scores 0.
                proba = torch.exp(log_scores)
                if self.top_k is not None:
                    # The classes left out read as the row's lowest value (_log_answers).
                    proba = proba * (log_scores > log_scores.min(dim=1, keepdim=True).values)
                mapped = proba[:, label_map].mean(dim=2)
                mapped = mapped / mapped.sum(dim=1, keepdim=True).clamp_min(1e-30)
            p = mapped[torch.arange(batch), targets[idx]].clamp_min(1e-12)
            loss = torch.mean(-(1.0 - p) ** gamma * torch.log(p))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            self.loss_curve_.append(loss.item())
            self._publish(bar, w, coef, intercept, batch)
            if self.callback is not None and self.callback(
                    self, {"n_iter": self.n_iter_, "loss": self.loss_curve_[-1],
                           "n_queries": self.n_queries_}):
                break
        # Without a step the ridge head on the initial outputs stays (the probe).
        trained_head = linear and len(self.loss_curve_) > 0
        self._publish(bar, w, coef if trained_head else None,
                      intercept if trained_head else None, batch)
        if trained_head or (log_average and len(self.loss_curve_) > 0):
            self.n_queries_ += self._refit_head(X, y)
        return self

    def _log_answers(self, log_proba):
        """The log scores the output mapping reads: every class's (clipped at
        ``log(1e-12)``), or, with ``top_k``, the ``k`` best and one nat below the lowest
        of them for the classes left out (:func:`skbar.heads.log_scores`)."""
        torch = _import_torch()
        if self.top_k is None:
            return log_proba.clamp_min(float(np.log(1e-12)))
        top = torch.topk(log_proba, self.top_k, dim=1)
        floor = top.values[:, -1:] - 1.0
        return floor.expand_as(log_proba).scatter(1, top.indices, top.values)

    def _publish(self, bar, w, coef, intercept, batch):
        """Put the training state so far on the estimator (for the callback and the end)."""
        bar.program_ = w.detach().numpy().astype(np.float64)
        if coef is not None:
            bar.head_.coef_ = coef.detach().numpy().astype(np.float64)
            bar.head_.intercept_ = intercept.detach().numpy().astype(np.float64)
        self.bar_ = bar
        self.classes_ = bar.classes_
        self.n_iter_ = len(self.loss_curve_)
        self.n_backward_ = self.n_iter_ * batch
        self.n_queries_ = bar.n_queries_ + self.n_backward_

    def predict_proba(self, X):
        """Target-class probabilities ``(n_samples, n_classes)``, from the black-box oracle
        under the trained program."""
        check_is_fitted(self)
        return self.bar_.predict_proba(X)

    def predict(self, X):
        """The most probable target class of each sample, from the black-box oracle."""
        check_is_fitted(self)
        return self.bar_.predict(X)


class FineTuningClassifier(ClassifierMixin, BaseEstimator):
    """Transfer learning by fine-tuning the source model: the paper's "finetuning" baseline.

    The sample is resized to the model's whole input, the ImageNet head is replaced by a
    new linear layer for the target classes, and every weight is trained with Adam on
    cross-entropy. Batch-norm statistics stay those of ImageNet (eval mode): batches of
    a few samples would estimate them badly. Needs the ``torch`` extra.

    Parameters
    ----------
    model : str, default="efficientnet-lite0"
        A :data:`skbar.zoo.MODELS` name.
    image_size : int, default=None
        Input resolution; the model's own when None.
    sample_shape, rescale
        As in :class:`~skbar.BlackBoxReprogrammingClassifier`.
    epochs : int, default=2
    learning_rate : float, default=1e-4
    batch_size : int, default=16
    n_threads : int, default=None
        Threads of torch in this process; its default when None.
    random_state : int or None, default=None

    Attributes
    ----------
    model_ : torch.nn.Module
        The fine-tuned network.
    classes_ : ndarray
    n_queries_ : int
        Images with a forward and backward pass during ``fit`` (``epochs * n_samples``).
    loss_curve_ : list of float
        The cross-entropy of every minibatch.
    """

    def __init__(self, model="efficientnet-lite0", *, image_size=None, sample_shape=None,
                 rescale=True, epochs=2, learning_rate=1e-4, batch_size=16, n_threads=None,
                 random_state=None):
        self.model = model
        self.image_size = image_size
        self.sample_shape = sample_shape
        self.rescale = rescale
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X, y):
        """Train a new head and every weight of a copy of the source model on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        torch = _import_torch()

        X, y = validate_data(self, X, y, allow_nd=True, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        _set_threads(self.n_threads)
        rng = check_random_state(self.random_state)
        torch.manual_seed(rng.randint(np.iinfo(np.int32).max))
        self.data_min_, self.data_max_ = float(X.min()), float(X.max())
        images = self._images(X)

        net = copy.deepcopy(_pretrained(self.model))
        net._fc = torch.nn.Linear(net._fc.in_features, self.classes_.size)
        for p in net.parameters():
            p.requires_grad_(True)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        targets = torch.from_numpy(y_encoded)
        self.loss_curve_ = []
        for _ in range(self.epochs):
            order = rng.permutation(len(images))
            for start in range(0, len(order), self.batch_size):
                idx = torch.from_numpy(order[start:start + self.batch_size])
                loss = torch.nn.functional.cross_entropy(net(images[idx]), targets[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                self.loss_curve_.append(loss.item())
        for p in net.parameters():
            p.requires_grad_(False)
        self.model_ = net
        self.n_queries_ = self.epochs * len(images)
        return self

    def predict_proba(self, X):
        """Target-class probabilities ``(n_samples, n_classes)`` from the fine-tuned network."""
        torch = _import_torch()

        check_is_fitted(self)
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32)
        images = self._images(X)
        with torch.no_grad():
            proba = [torch.softmax(self.model_(images[i:i + 64]), dim=1).numpy()
                     for i in range(0, len(images), 64)]
        return np.concatenate(proba).astype(np.float64)

    def predict(self, X):
        """The most probable target class of each sample, from the fine-tuned network."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _images(self, X):
        """``X`` as the network's normalised input, resized to the whole canvas."""
        torch = _import_torch()

        if self.rescale:
            span = self.data_max_ - self.data_min_
            X = np.clip((X - self.data_min_) / (span if span > 0 else 1.0), 0.0, 1.0)
        size = self.image_size or _native_resolution(self.model)
        images = match_channels(resize_images(to_images(X, self.sample_shape), (size, size)), 3)
        return _to_model_input(torch.from_numpy(np.ascontiguousarray(images)))
