using System.Runtime.InteropServices;

namespace GraphCompiler.Backends.Llvm;

/// <summary>
/// The parts of LLVM 19's C API the backends use, bound to Debian's <c>libLLVM.so.19.1</c> (package
/// <c>libllvm19</c>). Only functions we call are declared. Strings the API returns must be released
/// with <see cref="LLVMDisposeMessage"/>.
/// </summary>
internal static unsafe partial class LlvmNative
{
    public const string Library = "LLVM-19";

    // ---- core --------------------------------------------------------------------------------------
    [LibraryImport(Library)] public static partial nint LLVMContextCreate();
    [LibraryImport(Library)] public static partial void LLVMGetVersion(out uint major, out uint minor, out uint patch);
    [LibraryImport(Library)] public static partial void LLVMContextDispose(nint context);
    [LibraryImport(Library)] public static partial void LLVMDisposeMessage(nint message);
    [LibraryImport(Library)] public static partial void LLVMDisposeModule(nint module);
    [LibraryImport(Library)] public static partial nint LLVMPrintModuleToString(nint module);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void LLVMSetTarget(nint module, string triple);
    [LibraryImport(Library)] public static partial void LLVMSetModuleDataLayout(nint module, nint layout);
    [LibraryImport(Library)] public static partial nint LLVMGetModuleContext(nint module);

    // ---- constant globals --------------------------------------------------------------------------
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMGetNamedGlobal(nint module, string name);
    [LibraryImport(Library)] public static partial nint LLVMGetFirstUse(nint value);
    [LibraryImport(Library)] public static partial nint LLVMGlobalGetValueType(nint global);
    [LibraryImport(Library)] public static partial ulong LLVMGetArrayLength2(nint arrayType);
    [LibraryImport(Library)] public static partial nint LLVMConstStringInContext2(nint context, byte* data, nuint length, int dontNullTerminate);
    [LibraryImport(Library)] public static partial void LLVMSetInitializer(nint global, nint constant);

    // ---- IR parsing and verification --------------------------------------------------------------
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMCreateMemoryBufferWithMemoryRangeCopy(byte* data, nuint length, string name);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMCreateMemoryBufferWithMemoryRange(byte* data, nuint length, string name, int requiresNullTerminator);
    [LibraryImport(Library)] public static partial int LLVMParseIRInContext(nint context, nint memBuf, out nint module, out nint message);
    [LibraryImport(Library)] public static partial int LLVMVerifyModule(nint module, int action, out nint message);
    [LibraryImport(Library)] public static partial byte* LLVMGetBufferStart(nint memBuf);
    [LibraryImport(Library)] public static partial nuint LLVMGetBufferSize(nint memBuf);
    [LibraryImport(Library)] public static partial void LLVMDisposeMemoryBuffer(nint memBuf);

    // ---- targets -----------------------------------------------------------------------------------
    [LibraryImport(Library)] public static partial void LLVMInitializeX86TargetInfo();
    [LibraryImport(Library)] public static partial void LLVMInitializeX86Target();
    [LibraryImport(Library)] public static partial void LLVMInitializeX86TargetMC();
    [LibraryImport(Library)] public static partial void LLVMInitializeX86AsmPrinter();
    [LibraryImport(Library)] public static partial void LLVMInitializeX86AsmParser();
    [LibraryImport(Library)] public static partial void LLVMInitializeNVPTXTargetInfo();
    [LibraryImport(Library)] public static partial void LLVMInitializeNVPTXTarget();
    [LibraryImport(Library)] public static partial void LLVMInitializeNVPTXTargetMC();
    [LibraryImport(Library)] public static partial void LLVMInitializeNVPTXAsmPrinter();

    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void LLVMParseCommandLineOptions(int argc, string[] argv, string? overview);

    [LibraryImport(Library)] public static partial nint LLVMGetDefaultTargetTriple();
    [LibraryImport(Library)] public static partial nint LLVMGetHostCPUName();
    [LibraryImport(Library)] public static partial nint LLVMGetHostCPUFeatures();
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int LLVMGetTargetFromTriple(string triple, out nint target, out nint errorMessage);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMCreateTargetMachine(nint target, string triple, string cpu, string features, int level, int reloc, int codeModel);
    [LibraryImport(Library)] public static partial void LLVMDisposeTargetMachine(nint machine);
    [LibraryImport(Library)] public static partial nint LLVMCreateTargetDataLayout(nint machine);
    [LibraryImport(Library)] public static partial void LLVMDisposeTargetData(nint data);
    [LibraryImport(Library)] public static partial nint LLVMCopyStringRepOfTargetData(nint data);
    [LibraryImport(Library)] public static partial int LLVMTargetMachineEmitToMemoryBuffer(nint machine, nint module, int fileType, out nint errorMessage, out nint memBuf);

    // ---- new pass manager --------------------------------------------------------------------------
    [LibraryImport(Library)] public static partial nint LLVMCreatePassBuilderOptions();
    [LibraryImport(Library)] public static partial void LLVMDisposePassBuilderOptions(nint options);
    [LibraryImport(Library)] public static partial void LLVMPassBuilderOptionsSetLoopVectorization(nint options, int value);
    [LibraryImport(Library)] public static partial void LLVMPassBuilderOptionsSetSLPVectorization(nint options, int value);
    [LibraryImport(Library)] public static partial void LLVMPassBuilderOptionsSetLoopUnrolling(nint options, int value);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMRunPasses(nint module, string passes, nint machine, nint options);

    // ---- errors ------------------------------------------------------------------------------------
    [LibraryImport(Library)] public static partial nint LLVMGetErrorMessage(nint error);
    [LibraryImport(Library)] public static partial void LLVMDisposeErrorMessage(nint message);

    // ---- ORC LLJIT ---------------------------------------------------------------------------------
    [LibraryImport(Library)] public static partial nint LLVMOrcCreateLLJITBuilder();
    [LibraryImport(Library)] public static partial void LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(nint builder, nint jtmb);
    [LibraryImport(Library)] public static partial nint LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(nint machine);
    [LibraryImport(Library)] public static partial nint LLVMOrcCreateLLJIT(out nint jit, nint builder);
    [LibraryImport(Library)] public static partial nint LLVMOrcDisposeLLJIT(nint jit);
    [LibraryImport(Library)] public static partial nint LLVMOrcLLJITGetMainJITDylib(nint jit);
    [LibraryImport(Library)] public static partial byte LLVMOrcLLJITGetGlobalPrefix(nint jit);
    [LibraryImport(Library)] public static partial nint LLVMOrcCreateNewThreadSafeContext();
    [LibraryImport(Library)] public static partial void LLVMOrcDisposeThreadSafeContext(nint context);
    [LibraryImport(Library)] public static partial nint LLVMOrcThreadSafeContextGetContext(nint context);
    [LibraryImport(Library)] public static partial nint LLVMOrcCreateNewThreadSafeModule(nint module, nint context);
    [LibraryImport(Library)] public static partial nint LLVMOrcLLJITAddLLVMIRModule(nint jit, nint dylib, nint threadSafeModule);
    [LibraryImport(Library)] public static partial nint LLVMOrcLLJITAddObjectFile(nint jit, nint dylib, nint objectBuffer);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMOrcLLJITLookup(nint jit, out ulong address, string name);
    [LibraryImport(Library)]
    public static partial nint LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(out nint generator, byte globalPrefix, nint filter, nint filterContext);
    [LibraryImport(Library)] public static partial void LLVMOrcJITDylibAddGenerator(nint dylib, nint generator);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint LLVMOrcLLJITMangleAndIntern(nint jit, string unmangledName);
    /// <summary>Takes the names (each retained, as <see cref="LLVMOrcLLJITMangleAndIntern"/> returns them) in <paramref name="symbols"/>.</summary>
    [LibraryImport(Library)] public static partial nint LLVMOrcAbsoluteSymbols(OrcSymbolMapPair* symbols, nuint count);
    /// <summary>Takes the unit on success only.</summary>
    [LibraryImport(Library)] public static partial nint LLVMOrcJITDylibDefine(nint dylib, nint materializationUnit);
    [LibraryImport(Library)] public static partial void LLVMOrcDisposeMaterializationUnit(nint materializationUnit);

    /// <summary><c>LLVMOrcCSymbolMapPair</c>: an interned name and its address and flags (<c>LLVMJITEvaluatedSymbol</c>).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct OrcSymbolMapPair
    {
        public nint Name;
        public ulong Address;
        public byte GenericFlags;
        public byte TargetFlags;
    }

    /// <summary><c>LLVMJITSymbolGenericFlagsExported</c>: visible to the other objects of the JIT's library.</summary>
    public const byte JitSymbolExported = 1;

    // ---- constants ---------------------------------------------------------------------------------
    public const int ReturnStatusAction = 2;
    public const int CodeGenLevelAggressive = 3;
    public const int RelocPIC = 2;
    public const int CodeModelDefault = 0;
    public const int AssemblyFile = 0;
    public const int ObjectFile = 1;

    /// <summary>Copies and frees an LLVM-owned message.</summary>
    public static string TakeMessage(nint message)
    {
        if (message == 0) return "";
        var s = Marshal.PtrToStringUTF8(message) ?? "";
        LLVMDisposeMessage(message);
        return s;
    }

    /// <summary>Copies and frees an LLVMErrorRef's message; empty for success.</summary>
    public static string TakeError(nint error)
    {
        if (error == 0) return "";
        var msg = LLVMGetErrorMessage(error);
        var s = Marshal.PtrToStringUTF8(msg) ?? "";
        LLVMDisposeErrorMessage(msg);
        return s;
    }
}
