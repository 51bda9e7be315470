namespace GraphCompiler.IR;

/// <summary>
/// The devices an op can run on, and the <c>device</c> attribute that says which one was chosen. Any
/// op may carry it (like MLIR's discardable attributes); the <c>place-devices</c> pass sets it and
/// <c>insert-transfers</c> makes every edge between devices explicit with <c>send</c>/<c>recv</c>.
/// An op without it runs on the host.
/// </summary>
public static class Placement
{
    public const string AttrName = "device";
    public const string Cpu = "cpu";
    public const string Gpu = "gpu";

    public static readonly AttrSpec Spec = AttrSpec.Enum(AttrName, null, Cpu, Gpu);

    /// <summary>The device <paramref name="op"/> is placed on; the host when it carries no <c>device</c>.</summary>
    public static string DeviceOf(Operation op) => op.Attributes[AttrName] is EnumAttr e ? e.Value : Cpu;

    /// <summary><paramref name="op"/> placed on <paramref name="device"/> (the same object when it already is).</summary>
    public static Operation On(Operation op, string device) => op.With(attributes: op.Attributes.With(AttrName, new EnumAttr(device)));
}
