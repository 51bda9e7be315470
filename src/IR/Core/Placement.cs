using System.Globalization;

namespace GraphCompiler.IR;

/// <summary>
/// The devices an op can run on, and the <c>device</c> attribute that says which one was chosen. Any
/// op may carry it (like MLIR's discardable attributes); the <c>place-devices</c> pass sets it and
/// <c>insert-transfers</c> makes every edge between devices explicit with <c>send</c>/<c>recv</c>.
/// An op without it runs on the host.
/// <para>
/// Devices of several processes (model parallelism, docs/distributed.md): task K of the job, the
/// process of MPI rank K, has a CPU written <c>taskK</c> in the IR — TensorFlow's
/// <c>/job:worker/task:K/cpu:0</c>, which the command line's <c>--place</c> accepts too. Task 0 is the
/// host process itself: its CPU is <c>cpu</c> (never <c>task0</c>, so one device has one spelling) and
/// its GPU <c>gpu</c>. This class is the one place that knows the syntax.
/// </para>
/// </summary>
public static class Placement
{
    public const string AttrName = "device";
    public const string Cpu = "cpu";
    public const string Gpu = "gpu";

    /// <summary>The prefix of a task's CPU in the IR: <c>task1</c>, <c>task2</c>, ...</summary>
    public const string TaskPrefix = "task";

    /// <summary>TensorFlow's name of task K's CPU is <c>/job:worker/task:K/cpu:0</c>: these are its parts.</summary>
    private const string TfJobPrefix = "/job:worker/task:", TfCpuSuffix = "/cpu:0", TfGpuSuffix = "/gpu:0";

    /// <summary>The most tasks a program may be placed over (MPI ranks are ints; this keeps tags and names small).</summary>
    public const int MaxTasks = 1024;

    /// <summary>How the verifier describes a valid device.</summary>
    public const string Syntax = "cpu, gpu or taskK (task K's CPU, 1 <= K < 1024)";

    /// <summary>The <c>device</c> attribute: an enum whose values are the devices (any <see cref="IsDevice"/> word).</summary>
    public static readonly AttrSpec Spec = DeviceSpec(AttrName);

    /// <summary>A device-valued attribute named <paramref name="name"/>, without a default (send/recv's <c>from</c> and <c>to</c> too).</summary>
    public static AttrSpec DeviceSpec(string name) => AttrSpec.EnumWhere(name, Syntax, IsDevice);

    /// <summary>The device <paramref name="op"/> is placed on; the host when it carries no <c>device</c>.</summary>
    public static string DeviceOf(Operation op) => op.Attributes[AttrName] is EnumAttr e ? e.Value : Cpu;

    /// <summary>
    /// Whether <paramref name="op"/> is host control flow (<see cref="OpTraits.HostControlFlow"/>) on the host CPU: each of
    /// its regions is a body of its own, whose ops have devices of their own.
    /// </summary>
    public static bool HostsRegions(Operation op) => op.Def.Has(OpTraits.HostControlFlow) && DeviceOf(op) == Cpu;

    /// <summary>
    /// The ops of <paramref name="body"/> and, at any depth, of the regions it hosts (<see cref="HostsRegions"/>): every op
    /// the host program runs or launches. A fusion's body is its kernel, not listed.
    /// </summary>
    public static IEnumerable<Operation> HostedOps(Region body)
    {
        foreach (var op in body.Operations)
        {
            yield return op;
            if (!HostsRegions(op)) continue;
            foreach (var r in op.Regions)
                foreach (var inner in HostedOps(r)) yield return inner;
        }
    }

    /// <summary>
    /// Where value <paramref name="i"/> of host control flow <paramref name="op"/> lives: in GPU memory when its
    /// <see cref="OpDef.GpuValuesAttr"/> lists it (a loop's <c>gpu_carried</c>, branches' <c>gpu_results</c>), else on the host.
    /// A loop's value i is its operand i, result i, both regions' argument i and body's yield i; a branch op's is its
    /// result i and every branch's yield i.
    /// </summary>
    public static string ValueDevice(Operation op, int i) =>
        op.Def.GpuValuesAttr is { } attr && op.Attributes[attr] is IntArrayAttr a && a.Values.Contains(i) ? Gpu : Cpu;

    /// <summary>The device <paramref name="op"/> reads operand <paramref name="i"/> on: a loop's carried value where it lives, else the op's device.</summary>
    public static string OperandDevice(Operation op, int i) => HostsRegions(op) && op.Def is Ops.WhileOp ? ValueDevice(op, i) : DeviceOf(op);

    /// <summary>The device result <paramref name="i"/> of <paramref name="op"/> lives on: for host control flow, where <see cref="ValueDevice"/> says.</summary>
    public static string ResultDevice(Operation op, int i) => HostsRegions(op) ? ValueDevice(op, i) : DeviceOf(op);

    /// <summary>Where region <paramref name="region"/> of host control flow <paramref name="op"/> gets argument <paramref name="i"/>: a loop's carried value where it lives.</summary>
    public static string RegionArgumentDevice(Operation op, int region, int i) => op.Def is Ops.WhileOp ? ValueDevice(op, i) : Cpu;

    /// <summary>
    /// Where region <paramref name="region"/> of host control flow <paramref name="op"/> yields value <paramref name="i"/>: where
    /// <see cref="ValueDevice"/> says, except a loop condition's one yield, which the host reads.
    /// </summary>
    public static string YieldDevice(Operation op, int region, int i) => op.Def is Ops.WhileOp && region == 0 ? Cpu : ValueDevice(op, i);

    /// <summary><paramref name="op"/> placed on <paramref name="device"/> (the same object when it already is).</summary>
    public static Operation On(Operation op, string device) => op.With(attributes: op.Attributes.With(AttrName, new EnumAttr(device)));

    /// <summary>Whether <paramref name="device"/> is a device as the IR writes it: cpu, gpu, or taskK with 1 &lt;= K &lt; <see cref="MaxTasks"/> (no leading zeros).</summary>
    public static bool IsDevice(string device) => device is Cpu or Gpu || TaskIndex(device) is > 0;

    /// <summary>The task (process, MPI rank) <paramref name="device"/> belongs to: 0 for cpu and gpu, K for taskK.</summary>
    public static int TaskOf(string device) => TaskIndex(device) ?? 0;

    /// <summary>The task <paramref name="op"/> runs in (0, the host, without a <c>device</c>).</summary>
    public static int TaskOf(Operation op) => TaskOf(DeviceOf(op));

    /// <summary>The CPU of task <paramref name="task"/> as the IR writes it: <c>cpu</c> for 0, else <c>taskK</c>.</summary>
    public static string TaskCpu(int task) => task == 0 ? Cpu : TaskPrefix + task.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether a transfer between the two devices crosses processes (MPI) rather than a link inside one (PCIe).</summary>
    public static bool CrossesProcesses(string from, string to) => TaskOf(from) != TaskOf(to);

    /// <summary>TensorFlow's full name of <paramref name="device"/>: <c>/job:worker/task:K/cpu:0</c> (or <c>.../gpu:0</c>).</summary>
    public static string FullName(string device) =>
        TfJobPrefix + TaskOf(device).ToString(CultureInfo.InvariantCulture) + (device == Gpu ? TfGpuSuffix : TfCpuSuffix);

    /// <summary>
    /// A device as a user writes it (<c>--place</c>): cpu, gpu, taskK, or TensorFlow's
    /// <c>/job:worker/task:K/cpu:0</c> (<c>/job:worker/task:0/gpu:0</c> is the gpu); the IR's spelling, or null.
    /// </summary>
    public static string? Parse(string text)
    {
        text = text.Trim();
        if (text == TaskPrefix + "0") return Cpu;
        if (IsDevice(text)) return text;
        if (!text.StartsWith(TfJobPrefix, StringComparison.Ordinal)) return null;
        var rest = text[TfJobPrefix.Length..];
        bool gpu = rest.EndsWith(TfGpuSuffix, StringComparison.Ordinal);
        if (!gpu && !rest.EndsWith(TfCpuSuffix, StringComparison.Ordinal)) return null;
        var k = Index(rest[..^TfCpuSuffix.Length]);
        if (k is not { } task || task >= MaxTasks) return null;
        if (gpu) return task == 0 ? Gpu : null; // only the host process has a GPU
        return TaskCpu(task);
    }

    private static int? TaskIndex(string device)
    {
        if (!device.StartsWith(TaskPrefix, StringComparison.Ordinal)) return null;
        return Index(device[TaskPrefix.Length..]) is { } k && k > 0 && k < MaxTasks ? k : null;
    }

    /// <summary>A non-negative decimal without sign or leading zeros, or null.</summary>
    private static int? Index(string digits)
    {
        if (digits.Length == 0 || digits.Length > 6 || !digits.All(char.IsAsciiDigit) || (digits.Length > 1 && digits[0] == '0')) return null;
        return int.Parse(digits, CultureInfo.InvariantCulture);
    }
}
