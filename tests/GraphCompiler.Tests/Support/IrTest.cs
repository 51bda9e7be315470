using System.Collections.Immutable;
using GraphCompiler.IR.Text;

namespace GraphCompiler.Tests;

/// <summary>IR-text-driven helpers: parse and verify, run through the interpreter, check round trips.</summary>
public static class IrTest
{
    public static Module Parse(string text)
    {
        var r = Parser.ParseModule(text, "test.ir");
        Assert.True(r.Ok, "IR did not parse/verify:\n" + string.Join("\n", r.Diagnostics) + "\n" + text);
        return r.Value!;
    }

    /// <summary>Parses <paramref name="text"/>, checks the print/parse round trip, and runs its entry function.</summary>
    public static ImmutableArray<Tensor> Run(string text, params Tensor[] inputs)
    {
        var m = Parse(text);
        AssertRoundTrip(m);
        var r = new Interpreter(m).Run(null, inputs);
        Assert.True(r.Ok, "interpreter failed: " + string.Join("\n", r.Diagnostics));
        return r.Value!.Results;
    }

    /// <summary>Runs and returns the interpreter's diagnostics (expects failure).</summary>
    public static string RunError(string text, params Tensor[] inputs)
    {
        var r = new Interpreter(Parse(text)).Run(null, inputs);
        Assert.False(r.Ok, "expected the interpreter to fail");
        return string.Join("\n", r.Diagnostics);
    }

    /// <summary>Asserts that the text is rejected, with a diagnostic containing <paramref name="expected"/>.</summary>
    public static string Rejects(string text, string expected)
    {
        var r = Parser.ParseModule(text, "test.ir");
        Assert.False(r.Ok, "expected the IR to be rejected:\n" + text);
        var all = string.Join("\n", r.Diagnostics);
        Assert.Contains(expected, all);
        return all;
    }

    public static void AssertRoundTrip(Module m)
    {
        var printed = Printer.Print(m, PrintOptions.Full);
        var again = Parser.ParseModule(printed, "printed.ir");
        Assert.True(again.Ok, "printed IR does not parse:\n" + string.Join("\n", again.Diagnostics) + "\n" + printed);
        Assert.Equal(printed, Printer.Print(again.Value!, PrintOptions.Full));
    }

    /// <summary>One-op function text: <c>Op("add", "tensor&lt;2xf32&gt;", "tensor&lt;2xf32&gt;", ...)</c>.</summary>
    public static string Func(string body, string resultType, params string[] argTypes)
    {
        var args = string.Join(", ", argTypes.Select((t, i) => $"%arg{i}: {t}"));
        return $"func @main({args}) -> ({resultType}) {{\n{body}\n}}\n";
    }

    /// <summary>Asserts equal type and values; floats within a relative tolerance, NaN equal to NaN.</summary>
    public static void AssertTensor(Tensor expected, Tensor actual, double rtol = 1e-6, double atol = 0)
    {
        Assert.Equal(expected.Type, actual.Type);
        for (long i = 0; i < expected.ElementCount; i++)
        {
            if (expected.Element.IsFloat())
            {
                double e = expected.GetDouble(i), a = actual.GetDouble(i);
                if (double.IsNaN(e) && double.IsNaN(a)) continue;
                if (e == a) continue;
                // The message (both tensors printed) is built only on failure: per element it made big comparisons quadratic.
                if (!(Math.Abs(e - a) <= atol + rtol * Math.Abs(e)))
                    Assert.Fail($"element {i}: expected {e:R}, got {a:R}\nexpected {expected}\nactual   {actual}");
            }
            else
            {
                if (!expected.ElementBytes(i).SequenceEqual(actual.ElementBytes(i)))
                    Assert.Fail($"element {i}: expected {TensorFormatter.FormatElement(expected, i)}, got {TensorFormatter.FormatElement(actual, i)}\nexpected {expected}\nactual   {actual}");
            }
        }
    }
}
