using System.Text;
using System.Text.Unicode;
using Google.Protobuf;
using GraphCompiler.Frontend.TextFormat;
using GraphCompiler.IR;

namespace GraphCompiler.Frontend.Protobuf;

/// <summary>
/// Reading protobuf messages from files and bytes, binary or text format, with every failure a
/// diagnostic: Google.Protobuf throws <see cref="InvalidProtocolBufferException"/> on bad input,
/// and that exception (only that one) becomes "FILE: not a valid MESSAGE protobuf: REASON".
/// </summary>
public static class ProtoFiles
{
    /// <summary>Largest file we read into memory (protobuf itself cannot exceed 2 GiB).</summary>
    public const long MaxFileBytes = int.MaxValue;

    public static Result<byte[]> ReadAllBytes(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
                return Result<byte[]>.Failure(new Diagnostic(Directory.Exists(path) ? $"{path}: is a directory, not a file" : $"{path}: no such file"));
            if (info.Length > MaxFileBytes)
                return Result<byte[]>.Failure(new Diagnostic($"{path}: file of {info.Length} bytes is larger than the 2 GiB a protobuf may hold"));
            return Result<byte[]>.Success(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Result<byte[]>.Failure(new Diagnostic($"{path}: cannot read: {e.Message}"));
        }
    }

    public static Result<T> ParseBinary<T>(MessageParser<T> parser, ReadOnlySpan<byte> data, string fileName) where T : class, IMessage<T>
    {
        try
        {
            return Result<T>.Success(parser.ParseFrom(data));
        }
        catch (InvalidProtocolBufferException e)
        {
            return Result<T>.Failure(NotValid(fileName, parser.ParseFrom(ByteString.Empty).Descriptor.Name, e.Message));
        }
    }

    public static Diagnostic NotValid(string fileName, string messageName, string reason) =>
        new($"{fileName}: not a valid {messageName} protobuf: {reason}");

    public static Result<T> ParseText<T>(MessageParser<T> parser, ReadOnlySpan<byte> data, string fileName) where T : class, IMessage<T>
    {
        if (data.StartsWith("\uFEFF"u8)) data = data[3..];
        return TextFormatParser.Parse(parser, Encoding.UTF8.GetString(data), fileName);
    }

    /// <summary>
    /// Text or binary, decided by content: text format is printable UTF-8 (plus tab, CR, LF), while
    /// binary protobuf almost always holds a tag or length byte below 0x20. When the text parse fails
    /// but the bytes are a valid binary message, the binary reading wins.
    /// </summary>
    public static Result<T> ParseAuto<T>(MessageParser<T> parser, byte[] data, string fileName) where T : class, IMessage<T>
    {
        if (!LooksLikeText(data)) return ParseBinary(parser, data, fileName);
        var text = ParseText(parser, data, fileName);
        if (text.Ok) return text;
        var binary = ParseBinary(parser, data, fileName);
        return binary.Ok ? binary : text;
    }

    public static Result<T> ReadFile<T>(MessageParser<T> parser, string path) where T : class, IMessage<T>
    {
        var bytes = ReadAllBytes(path);
        return bytes.Value is { } data ? ParseAuto(parser, data, path) : Result<T>.Failure(bytes.Diagnostics);
    }

    public static bool LooksLikeText(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return true;
        foreach (var b in data)
            if (b < 0x20 && b is not (byte)'\t' and not (byte)'\n' and not (byte)'\r' and not 0x0c || b == 0x7f) return false;
        // Must be UTF-8 too: random binary bytes above 0x7f usually are not.
        return Utf8.IsValid(data);
    }
}
