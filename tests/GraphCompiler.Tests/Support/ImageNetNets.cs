using System.Runtime.InteropServices;
using GraphCompiler.Frontend.Proto.Onnx;

namespace GraphCompiler.Tests;

/// <summary>
/// The standard ImageNet CNNs, 3×224×224 → 1000 logits, as their papers (and torchvision, where the papers leave a
/// choice) define them, with random weights (fixed seeds, so every file is reproducible byte for byte), written by
/// <see cref="NetBuilder"/>. The benchmarks' <c>generate-cnns</c> writes them (benchmarks/models/imagenet/, ignored by
/// git: 5–575 MB each; or with the weights as inputs for tools/gpu-check); the tests build small variants.
/// </summary>
public static class ImageNetNets
{
    /// <summary>Name → builder. The names are the benchmark names (GC_BENCH_MODELS).</summary>
    public static readonly IReadOnlyDictionary<string, Func<NetOptions, BuiltNet>> All = new Dictionary<string, Func<NetOptions, BuiltNet>>
    {
        ["inception_v1"] = InceptionV1,
        ["inception_v2"] = InceptionV2,
        ["squeezenet"] = SqueezeNet,
        ["densenet121"] = DenseNet121,
        ["shufflenet"] = ShuffleNetV1,
        ["mobilenet_v2"] = MobileNetV2,
        ["vgg19"] = Vgg19,
        ["alexnet"] = AlexNet,
    };

    /// <summary>
    /// The GPU check's networks (issue 18's nine classic CNNs, and MobileNet v2 of the CPU set): <see cref="All"/>
    /// with ResNet-50 (v1, written by this builder rather than the benchmarks' <c>ResNet50Model</c>) and ZFNet.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Func<NetOptions, BuiltNet>> GpuCheck =
        new Dictionary<string, Func<NetOptions, BuiltNet>>(All) { ["resnet50"] = ResNet50, ["zfnet"] = ZfNet };

    /// <summary>
    /// The graph as plain data, for tools without an ONNX parser (tools/gpu-check's bench.py walks it in torch, JAX
    /// and NumPy): inputs, the output, each node's op, inputs, output and int/ints/float attributes, and the small
    /// initializers (Clip bounds, Reshape shapes) as numbers.
    /// </summary>
    public static object GraphJson(byte[] onnx)
    {
        var g = ModelProto.Parser.ParseFrom(onnx).Graph;
        static object Attribute(AttributeProto a) => a.Ints.Count > 0 ? a.Ints.ToArray()
            : a.Type == AttributeProto.Types.AttributeType.Float ? a.F : a.I;
        static double[] Values(TensorProto t) =>
            t.Int64Data.Count > 0 ? [.. t.Int64Data.Select(v => (double)v)]
            : t.FloatData.Count > 0 ? [.. t.FloatData.Select(v => (double)v)]
            : t.DataType == (int)TensorProto.Types.DataType.Int64
                ? [.. MemoryMarshal.Cast<byte, long>(t.RawData.Span).ToArray().Select(v => (double)v)]
                : [.. MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray().Select(v => (double)v)];
        return new
        {
            inputs = g.Input.Select(i => i.Name).ToArray(),
            output = g.Output[0].Name,
            constants = g.Initializer.ToDictionary(t => t.Name, Values),
            nodes = g.Node.Select(n => new
            {
                op = n.OpType,
                inputs = n.Input.ToArray(),
                output = n.Output[0],
                attributes = n.Attribute.ToDictionary(a => a.Name, Attribute),
            }).ToArray(),
        };
    }

    /// <summary>
    /// ResNet-50 v1 (He et al. 2015, the ONNX model zoo's resnet50-v1: the stride on a block's first 1×1
    /// convolution), as the benchmarks' <c>ResNet50Model</c> defines it; the last BatchNormalization of each residual branch
    /// scales by 0.1–0.3 so that the sum over 16 blocks stays well inside f32.
    /// </summary>
    public static BuiltNet ResNet50(NetOptions options)
    {
        var b = new NetBuilder("resnet50_v1", 50, options);
        var x = b.ConvBn("conv1", b.Input, 64, 7, 2, 3);
        x = b.MaxPool(x, 3, 2, 1);
        int[] blocks = [3, 4, 6, 3], widths = [64, 128, 256, 512];
        for (int stage = 0; stage < blocks.Length; stage++)
            for (int block = 0; block < blocks[stage]; block++)
            {
                var name = $"res{stage + 2}{(char)('a' + block)}";
                int width = widths[stage], stride = stage > 0 && block == 0 ? 2 : 1;
                var shortcut = block == 0 ? b.ConvBn($"{name}_proj", x, 4 * width, 1, stride, relu: false) : x;
                var y = b.ConvBn($"{name}_a", x, width, 1, stride);
                y = b.ConvBn($"{name}_b", y, width, 3, 1, 1);
                y = b.BatchNorm(b.Conv($"{name}_c", y, 4 * width, 1, bias: false), 0.1f, 0.3f);
                x = b.Relu(b.Add(y, shortcut));
            }
        return b.Finish(b.Dense("fc", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>ZFNet (Zeiler and Fergus 2013, figure 3): AlexNet with a 7×7/2 first layer, a 5×5/2 second and wider middle layers.</summary>
    public static BuiltNet ZfNet(NetOptions options)
    {
        var b = new NetBuilder("zfnet", 109, options);
        var x = b.Relu(b.Conv("conv1", b.Input, 96, 7, 2, 1));
        x = b.MaxPool(x, 3, 2, 1);
        x = b.Relu(b.Conv("conv2", x, 256, 5, 2));
        x = b.MaxPool(x, 3, 2, 1);
        x = b.Relu(b.Conv("conv3", x, 384, 3, 1, 1));
        x = b.Relu(b.Conv("conv4", x, 384, 3, 1, 1));
        x = b.Relu(b.Conv("conv5", x, 256, 3, 1, 1));
        x = b.MaxPool(x, 3, 2);
        x = b.Relu(b.Dense("fc6", b.Flatten(x), 4096));
        x = b.Relu(b.Dense("fc7", x, 4096));
        return b.Finish(b.Dense("fc8", x, 1000));
    }

    /// <summary>GoogLeNet (Szegedy et al. 2014, table 1) with BatchNormalization after every convolution, as torchvision's.</summary>
    public static BuiltNet InceptionV1(NetOptions options)
    {
        var b = new NetBuilder("inception_v1", 101, options);
        var x = b.ConvBn("conv1", b.Input, 64, 7, 2, 3);
        x = b.MaxPool(x, 3, 2, ceil: true);
        x = b.ConvBn("conv2", x, 64, 1);
        x = b.ConvBn("conv3", x, 192, 3, 1, 1);
        x = b.MaxPool(x, 3, 2, ceil: true);
        Feature Module(string name, Feature input, int c1, int c3r, int c3, int c5r, int c5, int pool)
        {
            var b1 = b.ConvBn($"{name}_1x1", input, c1, 1);
            var b2 = b.ConvBn($"{name}_3x3", b.ConvBn($"{name}_3x3_reduce", input, c3r, 1), c3, 3, 1, 1);
            var b3 = b.ConvBn($"{name}_5x5", b.ConvBn($"{name}_5x5_reduce", input, c5r, 1), c5, 5, 1, 2);
            var b4 = b.ConvBn($"{name}_pool_proj", b.MaxPool(input, 3, 1, 1, ceil: true), pool, 1);
            return b.Concat(name, b1, b2, b3, b4);
        }
        x = Module("inception_3a", x, 64, 96, 128, 16, 32, 32);
        x = Module("inception_3b", x, 128, 128, 192, 32, 96, 64);
        x = b.MaxPool(x, 3, 2, ceil: true);
        x = Module("inception_4a", x, 192, 96, 208, 16, 48, 64);
        x = Module("inception_4b", x, 160, 112, 224, 24, 64, 64);
        x = Module("inception_4c", x, 128, 128, 256, 24, 64, 64);
        x = Module("inception_4d", x, 112, 144, 288, 32, 64, 64);
        x = Module("inception_4e", x, 256, 160, 320, 32, 128, 128);
        x = b.MaxPool(x, 2, 2, ceil: true);
        x = Module("inception_5a", x, 256, 160, 320, 32, 128, 128);
        x = Module("inception_5b", x, 384, 192, 384, 48, 128, 128);
        return b.Finish(b.Dense("fc", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>
    /// BN-Inception (Ioffe and Szegedy 2015, figure 5): 5×5 convolutions replaced by two 3×3, average or max pooling
    /// with a projection per module, and stride-2 modules (3c, 4e) that pass max pooling through.
    /// </summary>
    public static BuiltNet InceptionV2(NetOptions options)
    {
        var b = new NetBuilder("inception_v2", 102, options);
        var x = b.ConvBn("conv1", b.Input, 64, 7, 2, 3);
        x = b.MaxPool(x, 3, 2, 1);
        x = b.ConvBn("conv2_reduce", x, 64, 1);
        x = b.ConvBn("conv2", x, 192, 3, 1, 1);
        x = b.MaxPool(x, 3, 2, 1);
        Feature Module(string name, Feature input, int c1, int c3r, int c3, int d3r, int d3, bool maxPool, int pool)
        {
            var parts = new List<Feature>();
            if (c1 > 0) parts.Add(b.ConvBn($"{name}_1x1", input, c1, 1));
            parts.Add(b.ConvBn($"{name}_3x3", b.ConvBn($"{name}_3x3_reduce", input, c3r, 1), c3, 3, 1, 1));
            var d = b.ConvBn($"{name}_double_3x3_1", b.ConvBn($"{name}_double_3x3_reduce", input, d3r, 1), d3, 3, 1, 1);
            parts.Add(b.ConvBn($"{name}_double_3x3_2", d, d3, 3, 1, 1));
            var pooled = maxPool ? b.MaxPool(input, 3, 1, 1) : b.AvgPool(input, 3, 1, 1);
            parts.Add(b.ConvBn($"{name}_pool_proj", pooled, pool, 1));
            return b.Concat(name, [.. parts]);
        }
        Feature Reduction(string name, Feature input, int c3r, int c3, int d3r, int d3)
        {
            var b1 = b.ConvBn($"{name}_3x3", b.ConvBn($"{name}_3x3_reduce", input, c3r, 1), c3, 3, 2, 1);
            var d = b.ConvBn($"{name}_double_3x3_1", b.ConvBn($"{name}_double_3x3_reduce", input, d3r, 1), d3, 3, 1, 1);
            var b2 = b.ConvBn($"{name}_double_3x3_2", d, d3, 3, 2, 1);
            return b.Concat(name, b1, b2, b.MaxPool(input, 3, 2, 1));
        }
        x = Module("inception_3a", x, 64, 64, 64, 64, 96, false, 32);
        x = Module("inception_3b", x, 64, 64, 96, 64, 96, false, 64);
        x = Reduction("inception_3c", x, 128, 160, 64, 96);
        x = Module("inception_4a", x, 224, 64, 96, 96, 128, false, 128);
        x = Module("inception_4b", x, 192, 96, 128, 96, 128, false, 128);
        x = Module("inception_4c", x, 160, 128, 160, 128, 160, false, 128);
        x = Module("inception_4d", x, 96, 128, 192, 160, 192, false, 128);
        x = Reduction("inception_4e", x, 128, 192, 192, 256);
        x = Module("inception_5a", x, 352, 192, 320, 160, 224, false, 128);
        x = Module("inception_5b", x, 352, 192, 320, 192, 224, true, 128);
        return b.Finish(b.Dense("fc", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>SqueezeNet 1.0 (Iandola et al. 2016): fire modules (1×1 squeeze, 1×1 and 3×3 expands concatenated), no BatchNormalization.</summary>
    public static BuiltNet SqueezeNet(NetOptions options)
    {
        var b = new NetBuilder("squeezenet1_0", 103, options);
        Feature Fire(string name, Feature input, int squeeze, int expand)
        {
            var s = b.Relu(b.Conv($"{name}_squeeze", input, squeeze, 1));
            return b.Concat(name, b.Relu(b.Conv($"{name}_expand1x1", s, expand, 1)), b.Relu(b.Conv($"{name}_expand3x3", s, expand, 3, 1, 1)));
        }
        var x = b.Relu(b.Conv("conv1", b.Input, 96, 7, 2));
        x = b.MaxPool(x, 3, 2, ceil: true);
        x = Fire("fire2", x, 16, 64);
        x = Fire("fire3", x, 16, 64);
        x = Fire("fire4", x, 32, 128);
        x = b.MaxPool(x, 3, 2, ceil: true);
        x = Fire("fire5", x, 32, 128);
        x = Fire("fire6", x, 48, 192);
        x = Fire("fire7", x, 48, 192);
        x = Fire("fire8", x, 64, 256);
        x = b.MaxPool(x, 3, 2, ceil: true);
        x = Fire("fire9", x, 64, 256);
        x = b.Relu(b.Conv("conv10", x, 1000, 1));
        return b.Finish(b.GlobalPoolFlatten(x));
    }

    /// <summary>
    /// DenseNet-121 (Huang et al. 2017): dense blocks of 6, 12, 24, 16 layers (growth 32, bottleneck 4·32), each
    /// layer BN-Relu-Conv 1×1, BN-Relu-Conv 3×3 on the concatenation of every earlier feature map, as exporters
    /// write torchvision's (one Concat per layer); transitions halve the channels and average-pool.
    /// </summary>
    public static BuiltNet DenseNet121(NetOptions options)
    {
        const int growth = 32, bottleneck = 4 * growth;
        var b = new NetBuilder("densenet121", 104, options);
        var x = b.ConvBn("conv0", b.Input, 64, 7, 2, 3);
        x = b.MaxPool(x, 3, 2, 1);
        int[] layers = [6, 12, 24, 16];
        for (int block = 0; block < layers.Length; block++)
        {
            var features = new List<Feature> { x };
            for (int layer = 0; layer < layers[block]; layer++)
            {
                var name = $"block{block + 1}_layer{layer + 1}";
                var input = features.Count == 1 ? features[0] : b.Concat($"{name}_concat", [.. features]);
                var y = b.Conv($"{name}_conv1", b.Relu(b.BatchNorm(input)), bottleneck, 1, bias: false);
                y = b.Conv($"{name}_conv2", b.Relu(b.BatchNorm(y)), growth, 3, 1, 1, bias: false);
                features.Add(y);
            }
            x = b.Concat($"block{block + 1}", [.. features]);
            if (block == layers.Length - 1) break;
            x = b.Conv($"transition{block + 1}", b.Relu(b.BatchNorm(x)), x.Channels / 2, 1, bias: false);
            x = b.AvgPool(x, 2, 2);
        }
        x = b.Relu(b.BatchNorm(x));
        return b.Finish(b.Dense("classifier", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>
    /// ShuffleNet v1, 3 groups, 1× (Zhang et al. 2017, table 1): units of grouped 1×1 convolution, channel shuffle,
    /// depthwise 3×3, grouped 1×1; stride-2 units concatenate an average-pooled shortcut, the others add.
    /// </summary>
    public static BuiltNet ShuffleNetV1(NetOptions options)
    {
        const int groups = 3;
        var b = new NetBuilder("shufflenet_v1_g3", 105, options);
        var x = b.ConvBn("conv1", b.Input, 24, 3, 2, 1);
        x = b.MaxPool(x, 3, 2, 1);
        int[] outs = [240, 480, 960], repeats = [4, 8, 4];
        for (int stage = 0; stage < outs.Length; stage++)
            for (int unit = 0; unit < repeats[stage]; unit++)
            {
                var name = $"stage{stage + 2}_unit{unit + 1}";
                bool down = unit == 0;
                int mid = outs[stage] / 4, branchOut = down ? outs[stage] - x.Channels : outs[stage];
                // The paper does not group the first 1×1 convolution of stage 2: its input has only 24 channels.
                var y = b.ConvBn($"{name}_gconv1", x, mid, 1, groups: stage == 0 && unit == 0 ? 1 : groups);
                y = b.ChannelShuffle(y, groups);
                y = b.ConvBn($"{name}_dwconv", y, mid, 3, down ? 2 : 1, 1, groups: mid, relu: false);
                y = b.ConvBn($"{name}_gconv2", y, branchOut, 1, groups: groups, relu: false);
                x = b.Relu(down ? b.Concat($"{name}_concat", b.AvgPool(x, 3, 2, 1), y) : b.Add(x, y));
            }
        return b.Finish(b.Dense("fc", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>MobileNet v2 (Sandler et al. 2018, table 2): inverted residual blocks with Relu6 (Clip) and linear bottlenecks.</summary>
    public static BuiltNet MobileNetV2(NetOptions options)
    {
        var b = new NetBuilder("mobilenet_v2", 106, options);
        var x = b.ConvBnAct("conv1", b.Input, 32, 3, 2, 1, 1, b.Relu6);
        (int T, int C, int N, int S)[] blocks = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
        int index = 0;
        foreach (var (t, c, n, s) in blocks)
            for (int i = 0; i < n; i++)
            {
                var name = $"block{++index}";
                int stride = i == 0 ? s : 1, hidden = x.Channels * t;
                var y = t == 1 ? x : b.ConvBnAct($"{name}_expand", x, hidden, 1, 1, 0, 1, b.Relu6);
                y = b.ConvBnAct($"{name}_dwconv", y, hidden, 3, stride, 1, hidden, b.Relu6);
                y = b.ConvBnAct($"{name}_project", y, c, 1, 1, 0, 1, null);
                x = stride == 1 && x.Channels == c ? b.Add(x, y) : y;
            }
        x = b.ConvBnAct("conv_last", x, 1280, 1, 1, 0, 1, b.Relu6);
        return b.Finish(b.Dense("classifier", b.GlobalPoolFlatten(x), 1000));
    }

    /// <summary>VGG-19 (Simonyan and Zisserman 2014, configuration E), without BatchNormalization.</summary>
    public static BuiltNet Vgg19(NetOptions options)
    {
        var b = new NetBuilder("vgg19", 107, options);
        var x = b.Input;
        int[][] stages = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]];
        for (int s = 0; s < stages.Length; s++)
        {
            for (int i = 0; i < stages[s].Length; i++) x = b.Relu(b.Conv($"conv{s + 1}_{i + 1}", x, stages[s][i], 3, 1, 1));
            x = b.MaxPool(x, 2, 2);
        }
        x = b.Relu(b.Dense("fc6", b.Flatten(x), 4096));
        x = b.Relu(b.Dense("fc7", x, 4096));
        return b.Finish(b.Dense("fc8", x, 1000));
    }

    /// <summary>AlexNet as torchvision defines it (Krizhevsky 2014's one-GPU variant, no local response normalisation).</summary>
    public static BuiltNet AlexNet(NetOptions options)
    {
        var b = new NetBuilder("alexnet", 108, options);
        var x = b.Relu(b.Conv("conv1", b.Input, 64, 11, 4, 2));
        x = b.MaxPool(x, 3, 2);
        x = b.Relu(b.Conv("conv2", x, 192, 5, 1, 2));
        x = b.MaxPool(x, 3, 2);
        x = b.Relu(b.Conv("conv3", x, 384, 3, 1, 1));
        x = b.Relu(b.Conv("conv4", x, 256, 3, 1, 1));
        x = b.Relu(b.Conv("conv5", x, 256, 3, 1, 1));
        x = b.MaxPool(x, 3, 2);
        x = b.Relu(b.Dense("fc6", b.Flatten(x), 4096));
        x = b.Relu(b.Dense("fc7", x, 4096));
        return b.Finish(b.Dense("fc8", x, 1000));
    }
}
