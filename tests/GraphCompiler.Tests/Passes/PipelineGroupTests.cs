using GraphCompiler.Passes;

namespace GraphCompiler.Tests.Passes;

/// <summary>Fixed-point groups in pipelines (<c>a+b*</c>): run until a whole round changes nothing, never past the cap.</summary>
public sealed class PipelineGroupTests
{
    private static readonly PassOptions Checked = new() { CheckEachPass = true };

    // Three stage boundaries (tests/ir/sink-transposes/fixed_point_stage_boundaries.ir): each needs one more round.
    private static string Stages(int n)
    {
        var body = new System.Text.StringBuilder();
        body.AppendLine("  %z = constant {value = dense<0.0>} : tensor<f32>");
        body.AppendLine("  %w0 = constant {value = dense<0.5>} : tensor<4x4x1x1xf32>");
        body.AppendLine("  %r0 = convolution %x, %w0 {dims = \"bf01_oi01->bf01\"} : tensor<1x4x6x6xf32>");
        long c = 4;
        for (int k = 1; k <= n; k++)
        {
            body.AppendLine($"  %p{k} = reduce_window %r{k - 1} {{kind = max, padding_high = [0, 0, 1, 1], padding_low = [0, 0, 1, 1], strides = [1, 1, 1, 1], window = [1, 1, 3, 3]}} : tensor<1x{c}x6x6xf32>");
            body.AppendLine($"  %w{k} = constant {{value = dense<0.25>}} : tensor<{c}x{c}x1x1xf32>");
            body.AppendLine($"  %c{k} = convolution %r{k - 1}, %w{k} {{dims = \"bf01_oi01->bf01\"}} : tensor<1x{c}x6x6xf32>");
            body.AppendLine($"  %u{k} = concatenate %p{k}, %c{k} {{dimension = 1}} : tensor<1x{2 * c}x6x6xf32>");
            body.AppendLine($"  %z{k} = broadcast_in_dim %z {{dims = []}} : tensor<1x{2 * c}x6x6xf32>");
            body.AppendLine($"  %r{k} = max %u{k}, %z{k} : tensor<1x{2 * c}x6x6xf32>");
            c *= 2;
        }
        return $"func @main(%x: tensor<1x4x6x6xf32>) -> (tensor<1x{c}x6x6xf32>) {{\n{body}  return %r{n}\n}}\n";
    }

    private static int Transposes(Module m) => m.Entry.Body.Operations.Count(op => op.Name == "transpose");

    [Fact]
    public void AGroupRunsUntilARoundChangesNothing()
    {
        var m = IrTest.Parse(Stages(3));
        var steps = new List<PassStep>();
        var fixedPoint = PassManager.Run(m, Pipeline.Parse("layout,sink-transposes+canonicalize*"), Checked, steps.Add).Unwrap();
        var twoRounds = PassManager.Run(m, Pipeline.Parse("layout,sink-transposes,canonicalize,sink-transposes,canonicalize"), Checked).Unwrap();
        // One transpose in, one out; two fixed rounds leave the later boundaries in NCHW.
        Assert.Equal(2, Transposes(fixedPoint));
        Assert.True(Transposes(twoRounds) > 2, $"two rounds left {Transposes(twoRounds)} transposes");
        // The group's last round changed nothing, and every round before it changed something.
        var rounds = steps.Skip(1).Chunk(2).ToList();
        Assert.True(rounds.Count is > 2 and <= Pipeline.MostRounds, $"{rounds.Count} rounds");
        Assert.All(rounds, r => Assert.Equal(["sink-transposes", "canonicalize"], r.Select(s => s.PassName)));
        Assert.DoesNotContain(rounds[^1], s => s.Changed);
        Assert.All(rounds.SkipLast(1), r => Assert.Contains(r, s => s.Changed));
        Assert.Equal(Enumerable.Range(1, steps.Count), steps.Select(s => s.Index));
    }

    [Fact]
    public void AGroupStopsAtTheCapAndNamesUnknownMembers()
    {
        // More boundaries than rounds: the group stops after MostRounds rounds with transposes left.
        var steps = new List<PassStep>();
        var m = PassManager.Run(IrTest.Parse(Stages(Pipeline.MostRounds + 2)), Pipeline.Parse("layout,sink-transposes+canonicalize*"), Checked, steps.Add).Unwrap();
        Assert.Equal(1 + 2 * Pipeline.MostRounds, steps.Count);
        Assert.True(Transposes(m) > 2);

        var bad = PassManager.Run(IrTest.Parse(Stages(1)), Pipeline.Parse("layout,sink-transposes+nosuch*"));
        Assert.False(bad.Ok);
        Assert.Contains("unknown pass 'nosuch'", bad.Diagnostics[0].Message);
    }
}
