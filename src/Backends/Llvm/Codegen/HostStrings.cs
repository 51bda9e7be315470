namespace GraphCompiler.Backends.Llvm.Codegen;

/// <summary>Private NUL-terminated string constants of the host module (messages, library and symbol names), shared by the CUDA and MPI runtimes.</summary>
public static class HostStrings
{
    public static string Literal(ModuleContext m, string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var name = $"@gc.str.{Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes))[..16]}";
        if (m.FirstHelper(name))
            m.Global($"{name} = private unnamed_addr constant [{bytes.Length + 1} x i8] c\"{Escape(bytes)}\\00\", align 1");
        return name;
    }

    public static string Escape(byte[] bytes)
    {
        var sb = new System.Text.StringBuilder(bytes.Length + bytes.Length / 8);
        foreach (var c in bytes)
        {
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') sb.Append((char)c);
            else sb.Append('\\').Append(c.ToString("X2"));
        }
        return sb.ToString();
    }
}
