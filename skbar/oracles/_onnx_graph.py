"""A model's input and output conventions written into its ONNX graph.

skbar hands every oracle ``(n, H, W, C)`` float32 RGB canvases in ``[0, 1]`` and wants
class probabilities back. :func:`with_conventions` puts what lies between (the layout
transpose, the channel order, the scale and per-channel normalisation, the cast to the
model's dtype, the softmax) into the graph itself, as nodes around the user's model, so
that ONNX Runtime runs them with the model, on its device, and the host hands it the
canvases as they are. The nodes compute what :class:`~skbar.oracles.CanvasAdapter`
computes in NumPy, in the same order: ``x * gain + offset`` in float32.
"""

import numpy as np

CANVAS = "skbar/canvas"
SAMPLES = "skbar/samples"
FRAME = "skbar/frame"
SCORES = "skbar/scores"
PROBABILITIES = "skbar/probabilities"

# Batch normalisation with mean 0 and variance 1 - eps is x * scale + B in one pass over
# the canvas (a Mul and an Add make two); (1 - 1e-5) + 1e-5 is exactly 1 in float32, and
# 1e-5 is the smallest epsilon cuDNN accepts, so every provider computes the same map.
_BN_EPSILON = 1e-5
_MAX_BYTES = 2**31 - 1  # protobuf's limit on one message
# Batch normalisation's present form (no is_test), and Mul and Add with broadcasting.
_MIN_OPSET = 7


def _dims(value_info):
    """A tensor's dimensions: an int, a symbolic name, or None where unknown."""
    out = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def _constant(name, array):
    """A Constant node (not an initializer, which IR versions before 4 list as inputs)."""
    from onnx import helper, numpy_helper

    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array, name))


def model_inputs(model):
    """The model's inputs that are not initializers, in ONNX Runtime's order."""
    initializers = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _input_graph(layout, channel_order, gain, offset, canvas_dims, model_input):
    """Canvas ``(n, H, W, C)`` float32 RGB in ``[0, 1]`` -> the model's input tensor."""
    from onnx import TensorProto, helper

    elem_type = model_input.type.tensor_type.elem_type
    if elem_type not in (TensorProto.FLOAT, TensorProto.FLOAT16):
        raise ValueError(f"the model's input is {TensorProto.DataType.Name(elem_type)}; "
                         "conventions are written for FLOAT and FLOAT16 inputs")
    nodes = []
    x = CANVAS

    def add(op, inputs, **attrs):
        nonlocal x
        out = f"skbar/{len(nodes)}_{op.lower()}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        x = out

    channel_axis = 1 if layout == "NCHW" else 3
    n_channels = canvas_dims[3]
    if layout == "NCHW":
        add("Transpose", [x], perm=[0, 3, 1, 2])
    if channel_order == "BGR":
        nodes.append(_constant("skbar/bgr", np.array([2, 1, 0], dtype=np.int64)))
        add("Gather", [x, "skbar/bgr"], axis=channel_axis)
    if np.any(gain != 1) or np.any(offset != 0):
        if layout == "NCHW" and isinstance(n_channels, int):
            scale = np.broadcast_to(gain, (n_channels,)).astype(np.float32)
            bias = np.broadcast_to(offset, (n_channels,)).astype(np.float32)
            for name, value in (("scale", scale), ("bias", bias),
                                ("mean", np.zeros(n_channels, np.float32)),
                                ("var", np.full(n_channels, 1 - _BN_EPSILON, np.float32))):
                nodes.append(_constant(f"skbar/{name}", value))
            add("BatchNormalization", [x, "skbar/scale", "skbar/bias", "skbar/mean",
                                       "skbar/var"], epsilon=_BN_EPSILON)
        else:
            n = max(gain.size, offset.size)
            gain, offset = np.broadcast_to(gain, (n,)), np.broadcast_to(offset, (n,))
            if n > 1 and layout == "NCHW":
                gain, offset = gain.reshape(-1, 1, 1), offset.reshape(-1, 1, 1)
            elif n > 1 and isinstance(canvas_dims[2], int):
                # Per channel on NHWC: a (W, C) tile broadcasts over whole rows, which
                # ONNX Runtime does in long runs, where a (C,) vector is three at a time.
                gain, offset = np.tile(gain, (canvas_dims[2], 1)), np.tile(offset,
                                                                           (canvas_dims[2], 1))
            nodes.append(_constant("skbar/gain", np.ascontiguousarray(gain, np.float32)))
            add("Mul", [x, "skbar/gain"])
            if np.any(offset != 0):
                nodes.append(_constant("skbar/offset", np.ascontiguousarray(offset,
                                                                            np.float32)))
                add("Add", [x, "skbar/offset"])
    if elem_type == TensorProto.FLOAT16:
        add("Cast", [x], to=TensorProto.FLOAT16)
    if not nodes:
        add("Identity", [x])
    graph = helper.make_graph(
        nodes, "skbar_canvas_to_input",
        [helper.make_tensor_value_info(CANVAS, TensorProto.FLOAT, canvas_dims)],
        [helper.make_tensor_value_info(x, elem_type, _dims(model_input))])
    return graph, x


def _composing_graph(layout, box, canvas_dims, model_input, opset):
    """Samples and a frame, both in the model's convention, -> the model's input.

    ``box`` is ``(top, left, h, w)``, where the samples sit on the ``(H, W)`` canvas.
    The canvases are the samples padded with zeros to the canvas, plus the frame (one
    image, zero under the samples): each pixel is one of the two plus an exact zero,
    the numbers of the canvases composed on the host.
    """
    from onnx import TensorProto, helper

    top, left, h, w = box
    H, W, C = canvas_dims[1:]
    bottom, right = H - top - h, W - left - w
    if layout == "NCHW":
        pads = [0, 0, top, left, 0, 0, bottom, right]
        samples_dims, frame_dims = [canvas_dims[0], C, h, w], [1, C, H, W]
    else:
        pads = [0, top, left, 0, 0, bottom, right, 0]
        samples_dims, frame_dims = [canvas_dims[0], h, w, C], [1, H, W, C]
    if opset >= 11:  # the pads an input from opset 11, an attribute before
        nodes = [_constant("skbar/pads", np.array(pads, dtype=np.int64)),
                 helper.make_node("Pad", [SAMPLES, "skbar/pads"], ["skbar/padded"],
                                  name="skbar/padded")]
    else:
        nodes = [helper.make_node("Pad", [SAMPLES], ["skbar/padded"], name="skbar/padded",
                                  pads=pads, value=0.0)]
    nodes.append(helper.make_node("Add", ["skbar/padded", FRAME], ["skbar/composed"],
                                  name="skbar/composed"))
    graph = helper.make_graph(
        nodes, "skbar_samples_and_frame_to_input",
        [helper.make_tensor_value_info(SAMPLES, TensorProto.FLOAT, samples_dims),
         helper.make_tensor_value_info(FRAME, TensorProto.FLOAT, frame_dims)],
        [helper.make_tensor_value_info("skbar/composed", TensorProto.FLOAT,
                                       _dims(model_input))])
    return graph, "skbar/composed"


def _output_graph(output, model_output):
    """The model's first output -> ``(n, K)`` float64 scores and/or their softmax."""
    from onnx import TensorProto, helper

    elem_type = model_output.type.tensor_type.elem_type
    dims = _dims(model_output)
    n_classes = None
    if len(dims) >= 2 and all(isinstance(d, int) for d in dims[1:]):
        n_classes = int(np.prod(dims[1:]))
    source = "skbar/model_output"
    nodes = [helper.make_node("Flatten", [source], ["skbar/flat"], name="skbar/flat", axis=1)]
    outputs = []
    if output in ("probabilities", "auto"):
        nodes.append(helper.make_node("Cast", ["skbar/flat"], [SCORES], name=SCORES,
                                      to=TensorProto.DOUBLE))
        outputs.append(SCORES)
    if output in ("logits", "auto"):
        # The softmax in the model's float32 (its rounding, 1e-7, is far below what
        # any answer is read to), in double for other dtypes; returned as float64.
        logits = "skbar/flat"
        if elem_type not in (TensorProto.FLOAT, TensorProto.DOUBLE):
            nodes.append(helper.make_node("Cast", [logits], ["skbar/flat64"],
                                          name="skbar/flat64", to=TensorProto.DOUBLE))
            logits = "skbar/flat64"
        nodes.append(helper.make_node("Softmax", [logits], ["skbar/softmax"],
                                      name="skbar/softmax", axis=1))
        nodes.append(helper.make_node("Cast", ["skbar/softmax"], [PROBABILITIES],
                                      name=PROBABILITIES, to=TensorProto.DOUBLE))
        outputs.append(PROBABILITIES)
    graph = helper.make_graph(
        nodes, "skbar_output_to_scores",
        [helper.make_tensor_value_info(source, elem_type, dims)],
        [helper.make_tensor_value_info(name, TensorProto.DOUBLE, [dims[0] if dims else None,
                                                                   n_classes])
         for name in outputs])
    return graph, source, outputs


def with_conventions(model, layout, channel_order, gain, offset, canvas_shape, output,
                     front="canvas", box=None):
    """``model`` with skbar's canvas in front and probabilities behind, as one graph.

    Parameters
    ----------
    model : onnx.ModelProto
        The user's model: one image input, its first output the class scores.
    layout : {"NCHW", "NHWC"}
        The model's input layout.
    channel_order : {"RGB", "BGR"}
    gain, offset : ndarray of float32
        The canvas becomes ``x * gain + offset`` per channel (one value, or one per
        channel): :class:`~skbar.oracles.CanvasAdapter`'s affine map.
    canvas_shape : tuple of int or None
        ``(H, W, C)`` when known; else the model's own dimensions name them.
    output : {"probabilities", "logits", "auto"}
        Which outputs the graph ends with: the scores as they are (:data:`SCORES`),
        their softmax (:data:`PROBABILITIES`), or both (``"auto"`` decides per answer).
    front : {"canvas", "model", "composed"}, default="canvas"
        What the graph takes: ``[0, 1]`` NHWC canvases (:data:`CANVAS`); the model's own
        input, batches composed in its convention (:class:`~skbar.oracles.ModelInput`);
        or :data:`SAMPLES` and one :data:`FRAME` in that convention, composed by the
        graph (:class:`~skbar.oracles.ComposedInput`), with the samples at ``box``.
    box : tuple of int, optional
        ``(top, left, h, w)`` of the samples on the canvas, for ``front="composed"``.

    Returns
    -------
    model : onnx.ModelProto
        Inputs as ``front`` says; outputs named in ``outputs``, float64 ``(n, K)``.
    outputs : list of str

    Raises
    ------
    ValueError
        If the model cannot take the nodes: several inputs, an input neither FLOAT nor
        FLOAT16, an opset before 7, or names that clash with skbar's (``skbar/...``).
    """
    from onnx import TensorProto, compose, helper

    opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")],
                default=0)
    if opset < _MIN_OPSET:
        raise ValueError(f"the model's opset is {opset}; conventions are written for opset "
                         f"{_MIN_OPSET} and later")
    inputs = model_inputs(model)
    if len(inputs) != 1:
        raise ValueError(f"the model takes {len(inputs)} inputs, and the canvas is one")
    model_input, model_output = inputs[0], model.graph.output[0]
    dims = _dims(model_input)
    if canvas_shape is not None:
        spatial = list(canvas_shape)
    elif layout == "NCHW":
        spatial = [dims[2], dims[3], dims[1]]
    else:
        spatial = dims[1:4]
    canvas_dims = [dims[0]] + spatial
    graph = model.graph
    if front != "model":
        if front == "canvas":
            nodes, nodes_out = _input_graph(layout, channel_order,
                                            np.asarray(gain, np.float32),
                                            np.asarray(offset, np.float32), canvas_dims,
                                            model_input)
        else:
            if model_input.type.tensor_type.elem_type != TensorProto.FLOAT:
                raise ValueError("samples and frames are composed in float32 alone")
            nodes, nodes_out = _composing_graph(layout, box, canvas_dims, model_input, opset)
        graph = compose.merge_graphs(nodes, graph, [(nodes_out, model_input.name)],
                                     outputs=[model_output.name], name=model.graph.name)
    back, back_in, outputs = _output_graph(output, model_output)
    graph = compose.merge_graphs(graph, back, [(model_output.name, back_in)],
                                 outputs=outputs, name=model.graph.name)
    fused = helper.make_model(graph, opset_imports=model.opset_import,
                              ir_version=model.ir_version)
    fused.functions.extend(model.functions)
    if fused.ByteSize() > _MAX_BYTES:
        raise ValueError("the model is over 2 GB, more than one ONNX file can hold")
    return fused, outputs
