using GraphCompiler.Passes.Graphviz;
using GraphCompiler.Tests.Cli;

namespace GraphCompiler.Tests.Passes;

public sealed class GraphvizTests : IDisposable
{
    private readonly TestTemp _temp = new();

    public void Dispose() => _temp.Dispose();

    private const string Loop = """
        func @main(%x: tensor<4xf32> {name = "x"}, %n: tensor<i32>) -> (tensor<4xf32> {name = "y"}) {
          %a = exp %x : tensor<4xf32> loc("layer/exp")
          %zero = constant {value = dense<0>} : tensor<i32>
          %i, %y = while %zero, %a : tensor<i32>, tensor<4xf32>
            cond(%ci: tensor<i32>, %cy: tensor<4xf32>) {
              %p = compare %ci, %n {direction = lt} : tensor<bool>
              yield %p
            }
            body(%bi: tensor<i32>, %by: tensor<4xf32>) {
              %t = tanh %by : tensor<4xf32>
              yield %bi, %t
            }
          return %y
        }
        """;

    [Fact]
    public void DotShowsOpsArgumentsResultsAndRegionClusters()
    {
        var dot = DotWriter.Write(IrTest.Parse(Loop));
        Assert.StartsWith("digraph module {\n", dot);
        Assert.EndsWith("}\n", dot);
        Assert.Contains("subgraph cluster_f0_func {\n    label=\"@main\";", dot);
        Assert.Contains("f0_arg0 [shape=ellipse, style=filled, fillcolor=\"#dde8f7\", label=\"%arg0 \\\"x\\\"\\ntensor<4xf32>\"];", dot);
        Assert.Contains("f0_n0 [label=\"%0 = exp\\ntensor<4xf32>\\nlayer/exp\"];", dot); // op, result type, source name
        Assert.Contains("label=\"while\"; style=\"rounded,dashed\";", dot);                // the op with regions is a cluster
        Assert.Contains("label=\"cond\"; style=rounded;", dot);                          // holding one cluster per region
        Assert.Contains("label=\"body\"; style=rounded;", dot);
        Assert.Contains("f0_n9 [label=\"%9 = tanh\\ntensor<4xf32>\"];", dot);
        Assert.Contains("f0_result0 [shape=ellipse, style=filled, fillcolor=\"#e3f2dc\", label=\"y\\ntensor<4xf32>\"];", dot);
        Assert.Contains("f0_arg0 -> f0_n0 [label=\"tensor<4xf32>\"];", dot);             // edges carry the tensor type
        Assert.Contains("f0_arg1 -> f0_n5 [label=\"tensor<i32>\"];", dot);              // an outer value read in a region
        Assert.Contains("f0_n2 -> f0_result0 [label=\"%3: tensor<4xf32>\"];", dot);      // which result of a multi-result op
        Assert.Equal(dot, DotWriter.Write(IrTest.Parse(Loop)));                         // deterministic
        // The body cluster lies inside the while cluster, which lies inside the function cluster.
        int func = dot.IndexOf("cluster_f0_func"), loop = dot.IndexOf("label=\"while\""), body = dot.IndexOf("label=\"body\"");
        Assert.True(func < loop && loop < body);
    }

    [Fact]
    public void PlacedOpsAreFilledByDeviceAndTransfersDrawnWithTheirBytes()
    {
        var placed = IrTest.Parse("""
            func @main(%x: tensor<4xf32>) -> (tensor<4xf32>) {
              %s = send %x {compress = f16, from = cpu, to = gpu} : tensor<4xf32>
              %r = recv %s {from = cpu, to = gpu} : tensor<4xf32>
              %a = exp %r {device = gpu} : tensor<4xf32>
              %b = send %a {from = gpu, to = cpu} : tensor<4xf32>
              %c = recv %b {from = gpu, to = cpu} : tensor<4xf32>
              %n = neg %c {device = cpu} : tensor<4xf32>
              return %n
            }
            """);
        var dot = DotWriter.Write(placed);
        Assert.Contains("f0_n0 [label=\"%0 = send cpu\u2192gpu as f16\\ntensor<4xf32>\", shape=cds, style=filled, fillcolor=\"#ffd9a8\"];", dot);
        Assert.Contains("f0_n0 -> f0_n1 [style=dashed, label=\"8 B\"];", dot);   // 16 bytes of f32 as f16 on the wire
        Assert.Contains("f0_n3 -> f0_n4 [style=dashed, label=\"16 B\"];", dot);
        Assert.Contains("f0_n2 [label=\"%2 = exp\\ntensor<4xf32>\", style=\"rounded,filled\", fillcolor=\"#c6ebbd\"];", dot);
        Assert.Contains("f0_n5 [label=\"%5 = neg\\ntensor<4xf32>\", style=\"rounded,filled\", fillcolor=\"#cfe0fa\"];", dot);
        Assert.Contains("subgraph cluster_legend {", dot);
        Assert.DoesNotContain("cluster_legend", DotWriter.Write(IrTest.Parse(Loop))); // nothing placed: no legend
        Assert.Equal("3.5 MiB", DotWriter.FormatBytes(3.5 * 1024 * 1024));
    }

    [Fact]
    public void QuotesAreEscaped() => Assert.Equal("\"a \\\"b\\\" \\\\ c\\nd\"", DotWriter.Quote("a \"b\" \\ c\nd"));

    private string WriteLoop()
    {
        var dir = _temp.Directory("gcc-graph");
        var path = Path.Combine(dir, "loop.ir");
        File.WriteAllText(path, Loop);
        return path;
    }

    [Fact]
    public void CliWritesDotText()
    {
        var path = WriteLoop();
        var dir = Path.GetDirectoryName(path)!;
        var output = Path.Combine(dir, "loop.dot");
        var (code, _, stderr) = CliTests.Run("graph", path, "--passes", "dce", "--after", "dce", "-o", dir, "--format", "dot");
        Assert.True(code == 0, stderr);
        Assert.Equal(DotWriter.Write(IrTest.Parse(Loop)), File.ReadAllText(output)); // dce keeps everything here
        (code, var stdout, stderr) = CliTests.Run("graph", path, "--passes", "schedule");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("digraph module {", stdout);
        (code, _, stderr) = CliTests.Run("graph", path, "--after", "nosuchpass", "-o", dir);
        Assert.Equal(2, code);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void MissingDotIsOneLineAndExitCode2()
    {
        var path = WriteLoop();
        var dir = Path.GetDirectoryName(path)!;
        var output = Path.Combine(dir, "loop.svg");
        var dotnet = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, "dotnet")).FirstOrDefault(File.Exists) ?? "dotnet";
        var psi = new System.Diagnostics.ProcessStartInfo(dotnet, [Path.Combine(AppContext.BaseDirectory, "gcc-cli.dll"), "graph", path, "-o", dir])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        psi.Environment["PATH"] = Path.GetDirectoryName(path)!; // a PATH without Graphviz
        psi.Environment["DOTNET_ROOT"] = Path.GetDirectoryName(Path.GetFullPath(dotnet))!;
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(2, p.ExitCode);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("'dot' is not installed", err);
        Assert.False(File.Exists(output));
    }

    [SkippableDotFact]
    public void CliRendersSvgWithGraphviz()
    {
        var path = WriteLoop();
        var dir = Path.GetDirectoryName(path)!;
        var output = Path.Combine(dir, "loop.svg");
        var (code, stdout, stderr) = CliTests.Run("graph", path, "-o", dir);
        Assert.True(code == 0, stderr);
        Assert.Contains("wrote", stdout);
        var svg = File.ReadAllText(output);
        Assert.Contains("<svg", svg);
        Assert.Contains("tanh", svg);
    }
}

/// <summary>A fact skipped, visibly, when Graphviz's <c>dot</c> is not on the PATH (the set-up installs it).</summary>
public sealed class SkippableDotFactAttribute : FactAttribute
{
    public SkippableDotFactAttribute()
    {
        var found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Combine(d, "dot")));
        if (!found) Skip = "Graphviz 'dot' is not installed (the README's set-up command installs it)";
    }
}
