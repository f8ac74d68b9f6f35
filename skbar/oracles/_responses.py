"""Response adapters: what a model server answers, turned into a ``(n, K)`` score matrix.

A model that answers its full output vector (probabilities or logits) needs nothing
but :class:`ScoreVectorResponse`, the default. Many real prediction APIs answer only
their top few labels with scores, or "concepts" by name; :class:`TopKResponse` puts
those on the K source classes, with zeros for every class that did not come back.

A response adapter has three methods, used by :class:`~skbar.oracles.HttpOracle`:

``requested_outputs(outputs, binary)``
    The ``outputs`` entry of a v2 inference request (a list of dicts), or None to
    take whatever the server answers by default.
``n_classes(outputs)``
    K, from the model metadata's output list, or None when unknown.
``to_scores(tensors, canvas_adapter)``
    An ``(n, K)`` non-negative float64 matrix from the decoded output tensors
    (a name -> ndarray dict, in the server's order).
"""

import math
import numbers

import numpy as np

from ._base import OracleError


class ScoreVectorResponse:
    """The model's full output vector per image: probabilities or logits.

    Logits are turned into probabilities by the oracle's ``output`` setting, through
    the same :class:`~skbar.oracles.CanvasAdapter` the ONNX oracle uses.

    Parameters
    ----------
    output_name : str, optional
        The output tensor holding the scores; the first one the server answers when
        None.
    """

    def __init__(self, output_name=None):
        self.output_name = output_name

    def requested_outputs(self, outputs, binary):
        if self.output_name is None:
            return None
        return [{"name": self.output_name, "parameters": {"binary_data": bool(binary)}}]

    def n_classes(self, outputs):
        spec = _pick(outputs, self.output_name)
        size = spec["shape"][-1] if spec and spec["shape"] else None
        return size if isinstance(size, int) and size > 0 else None

    def to_scores(self, tensors, canvas_adapter):
        name = self.output_name or next(iter(tensors))
        if name not in tensors:
            raise OracleError(f"The response has no output {name!r}; it has {list(tensors)}.")
        tensor = tensors[name]
        if tensor.dtype.kind not in "fiub":
            raise OracleError(
                f"Output {name!r} holds {tensor.dtype} values, not a score vector; for an "
                "API that answers its top labels, pass response=TopKResponse(classes)."
            )
        return canvas_adapter.to_scores(tensor)

    def __repr__(self):
        return f"ScoreVectorResponse(output_name={self.output_name!r})"


class TopKResponse:
    """Scores over K source classes from answers that name only the top labels.

    Each image's answer is a short list of ``(label, score)`` pairs. The class the
    label names gets the score; every class that did not come back gets 0. The
    oracle contract then normalises each row to sum to one (:func:`call_oracle`).
    An image for which no known label came back (an empty top-k, or only labels
    outside ``classes``) gets a uniform row of ``floor``: after normalisation, the
    uniform distribution, the honest answer when nothing is known.

    Parameters
    ----------
    classes : sequence of str or int
        The K source classes, in the order of the score columns, as the server names
        them (``"tabby"``) or numbers them (``281``).
    k : int, optional
        How many top labels to ask for through Triton's classification extension,
        i.e. an output requested with ``parameters: {"classification": k}``. None for
        a server that answers its top labels unasked.
    output_name : str, optional
        With ``k``: the output to classify (the first in the model metadata when
        None). Without ``k``: the BYTES output holding ``"score:index:label"``
        strings, if the answer is in that form.
    labels_output, scores_output : str, optional
        The two tensors of an answer given as parallel ``(n, k)`` label and score
        tensors; by default the float tensor holds scores and the other the labels.
    floor : float, default=1e-6
        The score of every class in a row where no known label came back.

    Attributes
    ----------
    n_unknown_labels : int
        Labels answered that are not among ``classes`` (ignored), counted over every
        call.

    See Also
    --------
    ScoreVectorResponse : the full output vector, the default.

    Notes
    -----
    The pairs may come as tuples ``(label, score)`` or as dicts with the keys these
    APIs use: ``label``, ``name``, ``id``, ``class`` or ``concept`` for the label and
    ``score``, ``value``, ``probability`` or ``confidence`` for the score. When the
    same class comes back twice, its largest score is kept. A classification-extension
    entry ``"score:index:label"`` is matched by its label where ``classes`` holds names,
    by its index where ``classes`` holds ids.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.oracles import TopKResponse
    >>> adapter = TopKResponse(["cat", "dog", "car"])
    >>> adapter.from_pairs([[("dog", 0.7), ("cat", 0.2)], [{"name": "car", "value": 0.9}]])
    array([[0.2, 0.7, 0. ],
           [0. , 0. , 0.9]])
    """

    _LABEL_KEYS = ("label", "name", "id", "class", "concept")
    _SCORE_KEYS = ("score", "value", "probability", "confidence")

    def __init__(self, classes, k=None, output_name=None, labels_output=None,
                 scores_output=None, floor=1e-6):
        self.classes = list(classes)
        self.k = k
        self.output_name = output_name
        self.labels_output = labels_output
        self.scores_output = scores_output
        self.floor = floor
        if not self.classes:
            raise ValueError("classes must name at least one source class.")
        # Labels are matched as text so that 281, "281" and np.int64(281) are one class.
        self._index = {}
        for i, c in enumerate(self.classes):
            self._index.setdefault(_key(c), i)
        if len(self._index) != len(self.classes):
            raise ValueError("classes must not repeat a class.")
        if not (isinstance(floor, numbers.Real) and floor > 0):
            raise ValueError(f"floor must be a positive number, got {floor!r}.")
        self.n_unknown_labels = 0

    def requested_outputs(self, outputs, binary):
        if self.k is None:
            return None
        name = self.output_name
        if name is None:
            if not outputs:
                raise OracleError("TopKResponse(k=...) needs output_name: the model "
                                  "metadata lists no outputs.")
            name = outputs[0]["name"]
        return [{"name": name,
                 "parameters": {"classification": int(self.k), "binary_data": bool(binary)}}]

    def n_classes(self, outputs=None):
        return len(self.classes)

    def from_pairs(self, batch):
        """The ``(n, K)`` score matrix from ``[(label, score), ...]`` per image.

        Parameters
        ----------
        batch : sequence of sequence
            One list of pairs (or dicts, see Notes) per image.

        Returns
        -------
        ndarray of shape (n, K)
        """
        scores = np.zeros((len(batch), len(self.classes)))
        for row, pairs in zip(scores, batch):
            for item in pairs:
                label, score = self._pair(item)
                j = self._index.get(_key(label))
                if j is None:
                    if label not in (None, ""):  # "" and None pad ragged top-k tensors
                        self.n_unknown_labels += 1
                    continue
                if not math.isfinite(score) or score < 0:
                    raise OracleError(
                        f"Label {label!r} came back with score {score!r}; expected a "
                        "finite non-negative score."
                    )
                row[j] = max(row[j], score)
        scores[scores.sum(axis=1) <= 0] = self.floor
        return scores

    def to_scores(self, tensors, canvas_adapter=None):
        names = list(tensors)
        classified = self.output_name if self.output_name in tensors else None
        if classified is None and len(names) == 1 and tensors[names[0]].dtype == object:
            classified = names[0]
        if classified is not None:
            return self.from_pairs([[self._classification(s) for s in row]
                                    for row in _rows(tensors[classified])])
        labels, scores = self._label_and_score_tensors(tensors)
        return self.from_pairs([list(zip(lab, sco)) for lab, sco in
                                zip(_rows(labels), _rows(_numeric(scores, "scores")))])

    def _label_and_score_tensors(self, tensors):
        if self.labels_output is not None or self.scores_output is not None:
            try:
                return tensors[self.labels_output], tensors[self.scores_output]
            except KeyError as exc:
                raise OracleError(f"The response has no output {exc}; it has "
                                  f"{list(tensors)}.") from None
        floats = [n for n, t in tensors.items() if t.dtype.kind == "f"]
        others = [n for n, t in tensors.items() if t.dtype.kind != "f"]
        if len(floats) != 1 or len(others) != 1:
            raise OracleError(
                "A top-k answer must be one BYTES tensor of 'score:index:label' strings "
                "or one label tensor and one float score tensor; got outputs "
                f"{ {n: str(t.dtype) for n, t in tensors.items()} }. Pass labels_output "
                "and scores_output."
            )
        labels, scores = tensors[others[0]], tensors[floats[0]]
        if labels.shape != scores.shape:
            raise OracleError(f"Top-k labels of shape {labels.shape} and scores of shape "
                              f"{scores.shape} do not pair up.")
        return labels, scores

    def _classification(self, entry):
        """``"score:index:label"`` or ``"score:index"`` (Triton) into ``(label, score)``."""
        if isinstance(entry, bytes):
            entry = entry.decode("utf-8", "replace")
        parts = str(entry).split(":", 2)
        if len(parts) < 2:
            raise OracleError(f"Expected a 'score:index[:label]' classification, got {entry!r}.")
        # The class's name where `classes` holds names, else its index.
        if len(parts) == 3 and _key(parts[2]) in self._index:
            return parts[2], parts[0]
        return parts[1], parts[0]

    def _pair(self, item):
        if isinstance(item, dict):
            label = next((item[k] for k in self._LABEL_KEYS if k in item), None)
            score = next((item[k] for k in self._SCORE_KEYS if k in item), None)
        else:
            try:
                label, score = item
            except (TypeError, ValueError):
                raise OracleError(f"Expected a (label, score) pair, got {item!r}.") from None
        try:
            return label, float(score)
        except (TypeError, ValueError):
            raise OracleError(f"Label {label!r} came back without a numeric score "
                              f"({score!r}).") from None

    def __repr__(self):
        return f"TopKResponse({len(self.classes)} classes, k={self.k!r})"


def _key(label):
    if isinstance(label, bytes):
        label = label.decode("utf-8", "replace")
    if isinstance(label, numbers.Integral):
        return str(int(label))
    return str(label)


def _rows(tensor):
    return tensor.reshape(tensor.shape[0], -1)


def _numeric(tensor, name):
    if tensor.dtype.kind not in "fiub":
        raise OracleError(f"Output {name!r} holds {tensor.dtype} values, not scores.")
    return tensor


def _pick(outputs, name):
    if not outputs:
        return None
    if name is None:
        return outputs[0]
    return next((o for o in outputs if o["name"] == name), None)
