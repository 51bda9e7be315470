using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using GraphCompiler.IR;
using GraphCompiler.IR.Analysis;

namespace GraphCompiler.Passes;

/// <summary>
/// The buffer assignment of every function of a module, as <c>gcc-cli ir --memory-report</c> prints it:
/// one summary line per function, then, last, the entry function's
/// <c>memory: peak N bytes, no-reuse N bytes, lower bound N bytes</c> (peak = the arena size); or JSON.
/// </summary>
public sealed record MemoryReport(string Entry, ImmutableArray<FunctionBuffers> Functions)
{
    /// <summary>Per function that <c>remat</c> changed: what it bought and cost (see <see cref="WithRemat"/>).</summary>
    public ImmutableDictionary<string, RematSummary> Remat { get; init; } = ImmutableDictionary<string, RematSummary>.Empty;

    /// <summary>
    /// This report (of <paramref name="optimized"/>, compiled under a memory budget) with, for each function holding
    /// <c>remat</c>'s copies, the peak of the same function compiled without the budget (<paramref name="withoutBudget"/>'s
    /// report) and the copies' extra weighted flops against the function's own.
    /// </summary>
    public MemoryReport WithRemat(Module optimized, MemoryReport withoutBudget)
    {
        var remat = ImmutableDictionary.CreateBuilder<string, RematSummary>();
        foreach (var f in optimized.Functions)
        {
            var ops = f.Body.Operations.Where(o => !o.Def.IsTerminator).ToList();
            var copies = ops.Where(o => o.SourceName?.EndsWith(Rematerialization.Marker, StringComparison.Ordinal) == true).ToList();
            var before = withoutBudget.Functions.FirstOrDefault(x => x.Function == f.Name);
            if (copies.Count == 0 || before is null) continue;
            double extra = copies.Sum(o => o.Def.Cost(o).WeightedFlops), all = ops.Sum(o => o.Def.Cost(o).WeightedFlops);
            remat[f.Name] = new RematSummary(before.ArenaBytes, copies.Count, extra, all - extra);
        }
        return this with { Remat = remat.ToImmutable() };
    }

    public static MemoryReport Compute(Module module, BufferOptions? options = null) => Compute(module, _ => options);

    /// <summary>The report with each function planned by <paramref name="plan"/> (a target's own options, which may depend on the function's placement).</summary>
    public static MemoryReport Compute(Module module, Func<Function, BufferOptions?> plan) =>
        new(module.Entry.Name, [.. module.Functions.Select(f => BufferAssignment.Compute(f, plan(f)))]);

    public FunctionBuffers EntryBuffers => Functions.First(f => f.Function == Entry);

    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var f in Functions)
        {
            var arena = f.InArena.ToList();
            sb.Append($"// memory @{f.Function}: arena {f.ArenaBytes} bytes in {arena.Select(v => v.Buffer).Distinct().Count()} buffers ")
              .Append($"for {arena.Count} values ({arena.Count(v => v.SharesWith is not null)} in place, ")
              .Append($"{f.Values.Count(v => v.Kind == BufferKind.VariableAlias)} into variables; {f.Allocator}), ")
              .Append($"no-reuse {f.NoReuseBytes} bytes, lower bound {f.LowerBoundBytes} bytes\n");
            if (Remat.TryGetValue(f.Function, out var r))
                sb.Append($"// remat @{f.Function}: peak {r.PeakWithoutBudget} bytes without the budget, {f.ArenaBytes} with it; ")
                  .Append($"{r.Recomputed} kernels recomputed, {r.ExtraWeightedFlops:0} extra weighted flops ")
                  .Append($"(+{100 * r.ExtraWeightedFlops / Math.Max(1, r.WeightedFlops):0.0} % of {r.WeightedFlops:0})\n");
        }
        var e = EntryBuffers;
        sb.Append($"memory: peak {e.ArenaBytes} bytes, no-reuse {e.NoReuseBytes} bytes, lower bound {e.LowerBoundBytes} bytes\n");
        return sb.ToString();
    }

    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("entry", Entry);
            w.WriteStartArray("functions");
            foreach (var f in Functions)
            {
                w.WriteStartObject();
                w.WriteString("name", f.Function);
                w.WriteNumber("peak_bytes", f.ArenaBytes);
                w.WriteNumber("no_reuse_bytes", f.NoReuseBytes);
                w.WriteNumber("lower_bound_bytes", f.LowerBoundBytes);
                w.WriteString("allocator", f.Allocator);
                if (Remat.TryGetValue(f.Function, out var r))
                {
                    w.WriteStartObject("remat");
                    w.WriteNumber("peak_bytes_without_budget", r.PeakWithoutBudget);
                    w.WriteNumber("recomputed", r.Recomputed);
                    w.WriteNumber("extra_weighted_flops", r.ExtraWeightedFlops);
                    w.WriteNumber("weighted_flops", r.WeightedFlops);
                    w.WriteEndObject();
                }
                w.WriteStartArray("values");
                foreach (var v in f.Values)
                {
                    w.WriteStartObject();
                    w.WriteString("value", v.Name);
                    w.WriteString("type", v.Value.Type.ToString());
                    w.WriteString("kind", v.Kind switch
                    {
                        BufferKind.Arena => "arena",
                        BufferKind.Argument => "argument",
                        BufferKind.Constant => "constant",
                        BufferKind.Elsewhere => "elsewhere",
                        _ => "variable_alias",
                    });
                    w.WriteNumber("bytes", v.Bytes);
                    if (v.Kind == BufferKind.Arena)
                    {
                        w.WriteNumber("offset", v.Offset);
                        w.WriteNumber("size", v.Size);
                        w.WriteNumber("buffer", v.Buffer);
                    }
                    w.WriteStartArray("live");
                    w.WriteNumberValue(v.Start);
                    w.WriteNumberValue(v.End);
                    w.WriteEndArray();
                    if (v.SharesWith is not null) w.WriteString("shares_with", v.SharesWith);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()).ReplaceLineEndings("\n") + "\n";
    }
}

/// <summary>What <c>remat</c> did to one function: its arena without the budget, how many kernels it recomputed, their weighted flops and the function's own (without them).</summary>
public sealed record RematSummary(long PeakWithoutBudget, int Recomputed, double ExtraWeightedFlops, double WeightedFlops);
