#!/usr/bin/python3
"""Writes the digits models of examples/training/ (batch 32, 8x8 images, 10 classes, logits out).

Weights are Glorot-uniform from a fixed seed, biases zero, so the files are reproducible:
    /usr/bin/python3 examples/training/make_models.py   (Debian's python3 with python3-numpy)
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 32
rng = np.random.default_rng(0)


def glorot(shape, fan_in, fan_out):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def dense(a):
    def rec(x):
        if x.ndim == 0:
            return np.format_float_positional(np.float32(x), precision=7, unique=True, trim='0')
        return "[" + ", ".join(rec(v) for v in x) + "]"
    return "dense<%s>" % rec(a)


def ty(*shape):
    return "tensor<%sxf32>" % "x".join(str(d) for d in shape)


def write(name, comment, body, inputs, logits):
    text = "".join("// " + line + "\n" for line in comment.splitlines())
    text += "func @main(%%x: %s {name = \"x\"}) -> (%s {name = \"logits\"}) {\n" % (inputs, logits)
    text += body + "}\n"
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def dense_layer(x, n_in, n_out, name, act=None):
    w = glorot((n_in, n_out), n_in, n_out)
    lines = [
        "  %%%s_w = constant {value = %s} : %s loc(\"%s/w\")\n" % (name, dense(w), ty(n_in, n_out), name),
        "  %%%s_b = constant {value = dense<0.0>} : %s loc(\"%s/b\")\n" % (name, ty(n_out), name),
        "  %%%s_mm = dot_general %s, %%%s_w {lhs_contract = [1], rhs_contract = [0]} : %s\n" % (name, x, name, ty(BATCH, n_out)),
        "  %%%s_bb = broadcast_in_dim %%%s_b {dims = [1]} : %s\n" % (name, name, ty(BATCH, n_out)),
        "  %%%s = add %%%s_mm, %%%s_bb : %s\n" % (name, name, name, ty(BATCH, n_out)),
    ]
    out = "%" + name
    if act == "relu":
        lines.append("  %%%s_zero = constant {value = dense<0.0>} : %s\n" % (name, ty(BATCH, n_out)))
        lines.append("  %%%s_relu = max %%%s, %%%s_zero : %s\n" % (name, name, name, ty(BATCH, n_out)))
        out = "%" + name + "_relu"
    return "".join(lines), out


body, out = dense_layer("%x", 64, 10, "dense")
write("digits_softmax.ir",
      "Softmax regression on the 8x8 digits: logits = x . W + b for a batch of 32 flattened images.\n"
      "Train it: gcc-cli train examples/training/digits_softmax.ir --data digits --loss softmax-cross-entropy:labels",
      body + "  return %s\n" % out, ty(BATCH, 64), ty(BATCH, 10))

h, hout = dense_layer("%x", 64, 64, "hidden", act="relu")
o, out = dense_layer(hout, 64, 10, "out")
write("digits_mlp.ir",
      "A two-layer perceptron on the 8x8 digits: 64 -> 64 (relu) -> 10 logits, batch 32.",
      h + o + "  return %s\n" % out, ty(BATCH, 64), ty(BATCH, 10))

# CNN: NCHW [32,1,8,8] -> conv 3x3 (16 filters, same padding) -> relu -> max-pool 2x2 -> dense 256 -> 10.
k = glorot((16, 1, 3, 3), 9, 16 * 9)
conv = (
    "  %conv_w = constant {value = " + dense(k) + "} : tensor<16x1x3x3xf32> loc(\"conv/w\")\n"
    "  %conv_b = constant {value = dense<0.0>} : tensor<16xf32> loc(\"conv/b\")\n"
    "  %img = reshape %x : tensor<32x1x8x8xf32>\n"
    "  %conv = convolution %img, %conv_w {dims = \"bf01_oi01->bf01\", padding_low = [1, 1], padding_high = [1, 1]} : tensor<32x16x8x8xf32>\n"
    "  %conv_bb = broadcast_in_dim %conv_b {dims = [1]} : tensor<32x16x8x8xf32>\n"
    "  %conv_z = add %conv, %conv_bb : tensor<32x16x8x8xf32>\n"
    "  %conv_zero = constant {value = dense<0.0>} : tensor<32x16x8x8xf32>\n"
    "  %conv_relu = max %conv_z, %conv_zero : tensor<32x16x8x8xf32>\n"
    "  %pool = reduce_window %conv_relu {kind = max, window = [1, 1, 2, 2], strides = [1, 1, 2, 2]} : tensor<32x16x4x4xf32>\n"
    "  %flat = reshape %pool : tensor<32x256xf32>\n")
o, out = dense_layer("%flat", 256, 10, "out")
write("digits_cnn.ir",
      "A small CNN on the 8x8 digits: conv 3x3 (16 filters, same padding) -> relu -> 2x2 max-pool -> dense -> 10 logits, batch 32.",
      conv + o + "  return %s\n" % out, ty(BATCH, 64), ty(BATCH, 10))
