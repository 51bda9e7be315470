using GraphCompiler.IR.Training;

namespace GraphCompiler.Tests.Training;

/// <summary>
/// The training step built from an inference model, run on the reference interpreter, against the textbook
/// gradient of softmax regression computed here in plain C#: dL/dW = xᵀ(p − onehot)/N, dL/db = Σ(p − onehot)/N.
/// </summary>
public sealed class TrainingStepTests
{
    /// <summary>Softmax regression on 2 features, batch 3 (also <see cref="Distributed.AsyncParameterServerTests"/>' model).</summary>
    internal const string Model = """
        func @main(%x: tensor<3x2xf64> {name = "x"}) -> (tensor<3x2xf64> {name = "logits"}) {
          %w = constant {value = dense<[[0.5, -0.25], [0.75, 0.125]]>} : tensor<2x2xf64> loc("w")
          %b = constant {value = dense<[0.1, -0.2]>} : tensor<2xf64> loc("b")
          %xw = dot_general %x, %w {lhs_contract = [1], rhs_contract = [0]} : tensor<3x2xf64>
          %bb = broadcast_in_dim %b {dims = [1]} : tensor<3x2xf64>
          %z = add %xw, %bb : tensor<3x2xf64>
          return %z
        }
        """;

    private static readonly double[] X = [1, 2, -1, 0.5, 0.25, -2];
    private static readonly long[] Labels = [1, 0, 1];

    [Fact]
    public void OneSgdStepMatchesTheTextbookGradient()
    {
        var training = TrainingStep.Build(IrTest.Parse(Model), new TrainingOptions
        {
            Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!,
            Optimizer = Optimizer.Create("sgd", 0.5)!,
        });
        Assert.Equal(["w", "b", "step"], training.Variables.Select(v => v.Name));
        var step = training.Module.Entry;
        Assert.Equal(TrainingStep.StepFunction, step.Name);

        var inputs = new List<Tensor>
        {
            Tensor.FromDoubles(new TensorType(ElementType.F64, 3, 2), X),
            Tensor.FromInt64s(new TensorType(ElementType.I64, 3), Labels),
        };
        inputs.AddRange(training.Variables.Select(v => v.Initial));
        var run = new Interpreter(training.Module).Run(null, inputs).Unwrap();

        double[] w = [0.5, -0.25, 0.75, 0.125], b = [0.1, -0.2];
        var gw = new double[4];
        var gb = new double[2];
        double loss = 0;
        for (int n = 0; n < 3; n++)
        {
            var z = new double[2];
            for (int j = 0; j < 2; j++) z[j] = X[2 * n] * w[j] + X[2 * n + 1] * w[2 + j] + b[j];
            double m = Math.Max(z[0], z[1]), s = Math.Exp(z[0] - m) + Math.Exp(z[1] - m);
            loss += Math.Log(s) + m - z[Labels[n]];
            for (int j = 0; j < 2; j++)
            {
                double d = Math.Exp(z[j] - m) / s - (Labels[n] == j ? 1 : 0);
                gb[j] += d / 3;
                gw[j] += X[2 * n] * d / 3;
                gw[2 + j] += X[2 * n + 1] * d / 3;
            }
        }
        Assert.Equal(loss / 3, run.Results[0].GetDouble(0), 12);
        var newW = run.VariableUpdates[training.Variables.Single(v => v.Name == "w").Argument];
        var newB = run.VariableUpdates[training.Variables.Single(v => v.Name == "b").Argument];
        for (int k = 0; k < 4; k++) Assert.Equal(w[k] - 0.5 * gw[k], newW.GetDouble(k), 12);
        for (int k = 0; k < 2; k++) Assert.Equal(b[k] - 0.5 * gb[k], newB.GetDouble(k), 12);
        Assert.Equal(1, run.VariableUpdates[training.Variables.Single(v => v.Name == "step").Argument].GetInt64(0));
    }

    /// <summary>
    /// Data parallel: two replicas (the reference interpreter's simulated world), each on half of a batch of 4 with its
    /// gradients and loss averaged by <c>all_reduce {kind = mean}</c>, take exactly the step one process takes on the
    /// whole batch: the same loss, the same new variables, on both replicas. Whether the buckets are averaged by
    /// start/done pairs (overlapped) or blocking all-reduces, and however many buckets there are, the step is the same.
    /// </summary>
    [Theory]
    [InlineData(true, TrainingStep.BucketBytes, "all_reduce_start", 1)] // one bucket: the loss and the gradients of w and b
    [InlineData(false, TrainingStep.BucketBytes, "all_reduce", 1)]
    [InlineData(true, 8L, "all_reduce_start", 3)] // 8-byte buckets: the loss, b's gradient, w's gradient, each alone
    public void TwoDataParallelReplicasOnHalvesTakeTheWholeBatchStep(bool overlap, long bucketBytes, string collective, int collectives)
    {
        TrainingModule Build(int batch, bool parallel) => TrainingStep.Build(IrTest.Parse(Model.Replace("3x2xf64", $"{batch}x2xf64")), new TrainingOptions
        {
            Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!,
            Optimizer = Optimizer.Create("adam", 0.1)!,
            DataParallel = parallel,
            OverlapCommunication = overlap,
            BucketBytes = bucketBytes,
        });
        double[] x = [1, 2, -1, 0.5, 0.25, -2, 3, -0.75];
        long[] labels = [1, 0, 1, 1];
        List<Tensor> Inputs(TrainingModule t, int from, int count)
        {
            var inputs = new List<Tensor>
            {
                Tensor.FromDoubles(new TensorType(ElementType.F64, count, 2), x.AsSpan(2 * from, 2 * count).ToArray()),
                Tensor.FromInt64s(new TensorType(ElementType.I64, count), labels.AsSpan(from, count).ToArray()),
            };
            inputs.AddRange(t.Variables.Select(v => v.Initial));
            return inputs;
        }
        var whole = Build(4, parallel: false);
        var halves = Build(2, parallel: true);
        Assert.Equal(collectives, halves.Module.Entry.Body.Operations.Count(o => o.Def.Name == collective));
        Assert.Equal(overlap ? collectives : 0, halves.Module.Entry.Body.Operations.Count(o => o.Def.Name == "all_reduce_done"));
        var expected = new Interpreter(whole.Module).Run(null, Inputs(whole, 0, 4)).Unwrap();
        var replicas = new Interpreter(halves.Module).RunReplicated(null, [Inputs(halves, 0, 2), Inputs(halves, 2, 2)]).Unwrap();
        foreach (var replica in replicas)
        {
            Assert.Equal(expected.Results[0].GetDouble(0), replica.Results[0].GetDouble(0), 12);
            foreach (var v in whole.Variables)
                IrTest.AssertTensor(expected.VariableUpdates[v.Argument], replica.VariableUpdates[v.Argument], rtol: 1e-12, atol: 1e-15);
        }
    }

    /// <summary>
    /// 16-bit gradient compression: with SGD (learning rate 1, so w' = w − g) each replica's gradient g_r comes out of a
    /// plain step on its half; the compressed data-parallel step must apply exactly the mean of the g_r rounded to f16.
    /// </summary>
    [Fact]
    public void CompressedGradientsAreTheMeanOfTheReplicasRoundedGradients()
    {
        TrainingModule Build(bool parallel) => TrainingStep.Build(IrTest.Parse(Model.Replace("3x2xf64", "2x2xf64")), new TrainingOptions
        {
            Loss = LossSpec.Parse("softmax-cross-entropy:labels", out _)!,
            Optimizer = Optimizer.Create("sgd", 1)!,
            DataParallel = parallel,
            GradientCompression = parallel ? ElementType.F16 : null,
            Replicas = 2,
        });
        double[] x = [1, 2, -1, 0.5, 0.25, -2, 3, -0.75];
        long[] labels = [1, 0, 1, 1];
        List<Tensor> Inputs(TrainingModule t, int half)
        {
            var inputs = new List<Tensor>
            {
                Tensor.FromDoubles(new TensorType(ElementType.F64, 2, 2), x.AsSpan(4 * half, 4).ToArray()),
                Tensor.FromInt64s(new TensorType(ElementType.I64, 2), labels.AsSpan(2 * half, 2).ToArray()),
            };
            inputs.AddRange(t.Variables.Select(v => v.Initial));
            return inputs;
        }
        var plain = Build(parallel: false);
        var compressed = Build(parallel: true);
        var replicas = new Interpreter(compressed.Module).RunReplicated(null, [Inputs(compressed, 0), Inputs(compressed, 1)]).Unwrap();
        foreach (var v in plain.Variables.Where(v => v.Role == VariableRole.Parameter))
        {
            var w = v.Initial;
            var g = Enumerable.Range(0, 2).Select(h => new Interpreter(plain.Module).Run(null, Inputs(plain, h)).Unwrap().VariableUpdates[v.Argument]).ToList();
            for (long k = 0; k < w.ElementCount; k++)
            {
                double mean = (FloatRounding.RoundTo(ElementType.F16, w.GetDouble(k) - g[0].GetDouble(k))
                             + FloatRounding.RoundTo(ElementType.F16, w.GetDouble(k) - g[1].GetDouble(k))) / 2;
                foreach (var replica in replicas)
                    Assert.Equal(w.GetDouble(k) - mean, replica.VariableUpdates[v.Argument].GetDouble(k), 14);
            }
        }
    }

    /// <summary>cross-entropy on a softmax's probabilities is softmax cross-entropy on its logits: same loss, same update.</summary>
    [Fact]
    public void CrossEntropyOfProbabilitiesEqualsSoftmaxCrossEntropyOfLogits()
    {
        var withSoftmax = Model.Replace("-> (tensor<3x2xf64> {name = \"logits\"})", "-> (tensor<3x2xf64> {name = \"p\"})").Replace("return %z", """
                  %m = reduce %z {kind = max, dims = [1]} : tensor<3xf64>
                  %mb = broadcast_in_dim %m {dims = [0]} : tensor<3x2xf64>
                  %s = sub %z, %mb : tensor<3x2xf64>
                  %e = exp %s : tensor<3x2xf64>
                  %t = reduce %e {kind = sum, dims = [1]} : tensor<3xf64>
                  %tb = broadcast_in_dim %t {dims = [0]} : tensor<3x2xf64>
                  %p = div %e, %tb : tensor<3x2xf64>
                  return %p
        """);
        InterpreterOutput Run(string model, string loss)
        {
            var training = TrainingStep.Build(IrTest.Parse(model), new TrainingOptions
            {
                Loss = LossSpec.Parse(loss, out _)!,
                Optimizer = Optimizer.Create("sgd", 0.5)!,
            });
            var inputs = new List<Tensor>
            {
                Tensor.FromDoubles(new TensorType(ElementType.F64, 3, 2), X),
                Tensor.FromInt64s(new TensorType(ElementType.I64, 3), Labels),
            };
            inputs.AddRange(training.Variables.Select(v => v.Initial));
            return new Interpreter(training.Module).Run(null, inputs).Unwrap();
        }
        var a = Run(Model, "softmax-cross-entropy:labels");
        var b = Run(withSoftmax, "cross-entropy:labels");
        Assert.Equal(a.Results[0].GetDouble(0), b.Results[0].GetDouble(0), 12);
        foreach (var (arg, t) in a.VariableUpdates)
            for (int k = 0; k < t.ElementCount; k++) Assert.Equal(t.GetDouble(k), b.VariableUpdates[arg].GetDouble(k), 12);
    }

    [Fact]
    public void TrainableSelectsByName()
    {
        var training = TrainingStep.Build(IrTest.Parse(Model), new TrainingOptions
        {
            Loss = new LossSpec(LossSpec.SoftmaxCrossEntropy, Labels: "labels"),
            Optimizer = Optimizer.Create("sgd", 0.1)!,
            Trainable = new System.Text.RegularExpressions.Regex("^b$"),
        });
        Assert.Equal(["b", "step"], training.Variables.Select(v => v.Name));
    }

    [Fact]
    public void TrainedValuesGoBackIntoTheInferenceModel()
    {
        var training = TrainingStep.Build(IrTest.Parse(Model), new TrainingOptions
        {
            Loss = new LossSpec(LossSpec.SoftmaxCrossEntropy, Labels: "labels"),
            Optimizer = Optimizer.Create("sgd", 0.1)!,
        });
        var b = Tensor.FromDoubles(new TensorType(ElementType.F64, 2), [1, 2]);
        var f = training.InferenceWith(new Dictionary<string, Tensor> { ["b"] = b });
        var x = Tensor.FromDoubles(new TensorType(ElementType.F64, 3, 2), new double[6]);
        var z = new Interpreter(new Module([f])).Run(null, [x]).Unwrap().Results[0];
        Assert.Equal([1, 2, 1, 2, 1, 2], Enumerable.Range(0, 6).Select(i => z.GetDouble(i)));
    }

    [Theory]
    [InlineData("", "loss '' is neither")]
    [InlineData("softmax-cross-entropy:", "neither an output name nor softmax-cross-entropy:LABELS nor cross-entropy:LABELS")]
    [InlineData("hinge:y", "neither")]
    public void BadLossSpecsAreOneClearError(string text, string expected)
    {
        Assert.Null(LossSpec.Parse(text, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void UnknownLossOutputNamesTheOutputs()
    {
        var e = Assert.Throws<IrException>(() => TrainingStep.Build(IrTest.Parse(Model), new TrainingOptions
        {
            Loss = new LossSpec(LossSpec.ModelOutput, Output: "nope"),
            Optimizer = Optimizer.Create("sgd", 0.1)!,
        }));
        Assert.Equal("the model has no output 'nope' (outputs: logits)", e.Message);
    }
}
