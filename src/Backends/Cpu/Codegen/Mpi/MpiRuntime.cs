using GraphCompiler.Backends.Llvm.Codegen;
using GraphCompiler.IR.Ops;
using GraphCompiler.Runtime;

namespace GraphCompiler.Backends.Cpu.Codegen.Mpi;

/// <summary>
/// The MPI transport of a compiled program's collectives, emitted into its module only when the module
/// has a collective (there is no runtime library to ship, as with the CUDA runtime). <c>gc.mpi.init</c>,
/// called by every collective kernel, does the work once: <c>dlopen</c>s <c>libmpi.so.40</c> (or the
/// library <c>GCC_MPI_LIBRARY</c> names) with <c>RTLD_NOW | RTLD_GLOBAL</c> — Open MPI's plugins resolve
/// its symbols globally —, looks up the functions and handles of <see cref="MpiApi"/>, initialises MPI
/// (<c>MPI_THREAD_FUNNELED</c>) unless the host process did, and duplicates <c>MPI_COMM_WORLD</c> into a
/// communicator of its own whose errors return instead of aborting. The stop hook finalises MPI when this
/// library initialised it (on <c>NAME_release</c> and in the library's destructor); MPI cannot start again
/// in that process afterwards. Replica groups become communicators made once, by <c>MPI_Comm_split</c>,
/// on their first use.
/// </summary>
internal static class MpiRuntime
{
    public const string Init = "gc.mpi.init";
    public const string Stop = "gc.mpi.stop";
    public const string Rank = "@gc.mpi.rank";
    public const string Size = "@gc.mpi.size";

    /// <summary>The runtime's duplicate of <c>MPI_COMM_WORLD</c>: every collective without groups runs on it.</summary>
    public const string World = "@gc.mpi.world";

    private const string State = "@gc.mpi.state";
    private const string FailStatus = "@gc.mpi.failstatus";
    private const string Owned = "@gc.mpi.owned";

    private const int RtldNow = 2;
    private const int RtldGlobal = 0x100;

    // gc.mpi.state values.
    private const int Fresh = 0, Ready = 1, Failed = 2;

    /// <summary>The runtime and <c>const char *SYMBOL(void)</c> returning its error buffer (a program's <c>NAME_last_error</c>).</summary>
    public static void EmitWithLastError(ModuleContext m, string symbol)
    {
        Ensure(m);
        m.AddFunction($"define ptr @{symbol}() nounwind {{\nentry:\n  ret ptr {MpiApi.ErrorBuffer}\n}}");
    }

    /// <summary>Emits the runtime into <paramref name="m"/> the first time it is asked for.</summary>
    public static void Ensure(ModuleContext m)
    {
        if (!m.FirstHelper(Init)) return;
        m.Declare("declare ptr @dlopen(ptr, i32)");
        m.Declare("declare ptr @dlsym(ptr, ptr)");
        m.Declare("declare ptr @dlerror()");
        m.Declare("declare ptr @getenv(ptr)");
        m.Declare("declare i32 @snprintf(ptr, i64, ptr, ...)");
        m.Global($"{MpiApi.FunctionTable} = internal global [{MpiApi.Functions.Count} x ptr] zeroinitializer");
        m.Global($"{MpiApi.HandleTable} = internal global [{MpiApi.Handles.Count} x ptr] zeroinitializer");
        m.Global($"{MpiApi.ErrorBuffer} = internal global [{MpiApi.ErrorBufferBytes} x i8] zeroinitializer");
        foreach (var g in new[] { State, FailStatus, Owned, Rank, Size }) m.Global($"{g} = internal global i32 0");
        m.Global($"{World} = internal global ptr null");
        EmitFail(m);
        EmitInit(m);
        EmitStop(m);
        m.OnStop(Stop);
    }

    /// <summary>gc.mpi.fail(what, code): "WHAT failed: MPI's error string (MPI error CODE)".</summary>
    private static void EmitFail(ModuleContext m)
    {
        var unknown = HostStrings.Literal(m, "unknown MPI error");
        var format = HostStrings.Literal(m, "%s failed: %s (MPI error %d)");
        m.AddFunction($$"""
            define internal void @{{MpiApi.Fail}}(ptr %what, i32 %code) nounwind {
            entry:
              %text = alloca [{{MpiApi.MaxErrorString}} x i8]
              %len = alloca i32
              %fp = load ptr, ptr getelementptr inbounds ([{{MpiApi.Functions.Count}} x ptr], ptr {{MpiApi.FunctionTable}}, i64 0, i64 {{MpiApi.Functions.Single(f => f.Name == "MPI_Error_string").Index}})
              %have = icmp ne ptr %fp, null
              br i1 %have, label %ask, label %plain
            ask:
              %r = call i32 %fp(i32 %code, ptr %text, ptr %len)
              %ok = icmp eq i32 %r, 0
              br i1 %ok, label %named, label %plain
            named:
              %p1 = call i32 (ptr, i64, ptr, ...) @snprintf(ptr {{MpiApi.ErrorBuffer}}, i64 {{MpiApi.ErrorBufferBytes}}, ptr {{format}}, ptr %what, ptr %text, i32 %code)
              ret void
            plain:
              %p2 = call i32 (ptr, i64, ptr, ...) @snprintf(ptr {{MpiApi.ErrorBuffer}}, i64 {{MpiApi.ErrorBufferBytes}}, ptr {{format}}, ptr %what, ptr {{unknown}}, i32 %code)
              ret void
            }
            """);
    }

    private static void EmitInit(ModuleContext m)
    {
        var b = new LlvmBuilder();
        var state = b.Let($"load i32, ptr {State}");
        var fresh = b.FreshLabel("fresh");
        var known = b.FreshLabel("known");
        b.CondBr(b.Let($"icmp eq i32 {state}, {Fresh}"), fresh, known);
        b.Block(known);
        // Ready: 0; failed before: that status again (its message stays in the error buffer).
        var again = b.Let($"load i32, ptr {FailStatus}");
        b.Line($"ret i32 {b.Let($"select i1 {b.Let($"icmp eq i32 {state}, {Ready}")}, i32 0, i32 {again}")}");
        b.Block(fresh);

        void FailWith(string status, string message, string args = "")
        {
            MpiApi.Message(m, b, message, args);
            b.Line($"store i32 {Failed}, ptr {State}");
            b.Line($"store i32 {status}, ptr {FailStatus}");
            b.Line($"ret i32 {status}");
        }
        var noMpi = ((int)RuntimeStatus.NoMpi).ToString();

        var env = b.Let($"call ptr @getenv(ptr {HostStrings.Literal(m, MpiLibrary.OverrideVariable)})", "env");
        var name = b.Let($"select i1 {b.Let($"icmp eq ptr {env}, null")}, ptr {HostStrings.Literal(m, MpiLibrary.Soname)}, ptr {env}", "libname");
        var lib = b.Let($"call ptr @dlopen(ptr {name}, i32 {RtldNow | RtldGlobal})", "lib");
        var noLib = b.FreshLabel("nolib");
        var haveLib = b.FreshLabel("havelib");
        b.CondBr(b.Let($"icmp eq ptr {lib}, null"), noLib, haveLib);
        b.Block(noLib);
        var why = b.Let("call ptr @dlerror()");
        FailWith(noMpi, "cannot load %s (%s): install openmpi-bin (Open MPI 4, libmpi.so.40)", $", ptr {name}, ptr {why}");
        b.Block(haveLib);
        foreach (var (table, entries) in new[] { (MpiApi.FunctionTable, MpiApi.Functions), (MpiApi.HandleTable, MpiApi.Handles) })
        {
            foreach (var e in entries)
            {
                var sym = HostStrings.Literal(m, e.Name);
                var p = b.Let($"call ptr @dlsym(ptr {lib}, ptr {sym})", "sym");
                var missing = b.FreshLabel("missing");
                var found = b.FreshLabel("found");
                b.CondBr(b.Let($"icmp eq ptr {p}, null"), missing, found);
                b.Block(missing);
                FailWith(noMpi, "%s has no %s: the MPI transport needs Open MPI 4 (libmpi.so.40)", $", ptr {name}, ptr {sym}");
                b.Block(found);
                b.Line($"store ptr {p}, ptr {b.Let($"getelementptr inbounds [{entries.Count} x ptr], ptr {table}, i64 0, i64 {e.Index}")}");
            }
        }

        void CallMpi(string fn, string args, string what) => MpiApi.Call(m, b, fn, args, what, status =>
        {
            b.Line($"store i32 {Failed}, ptr {State}");
            b.Line($"store i32 {status}, ptr {FailStatus}");
            b.Line($"ret i32 {status}");
        });

        var flag = b.Alloca("i32");
        CallMpi("MPI_Initialized", $"ptr {flag}", "MPI_Initialized");
        var start = b.FreshLabel("start");
        var started = b.FreshLabel("started");
        b.CondBr(b.Let($"icmp eq i32 {b.Let($"load i32, ptr {flag}")}, 0"), start, started);
        b.Block(start);
        CallMpi("MPI_Finalized", $"ptr {flag}", "MPI_Finalized");
        var over = b.FreshLabel("finalized");
        var init = b.FreshLabel("init");
        b.CondBr(b.Let($"icmp ne i32 {b.Let($"load i32, ptr {flag}")}, 0"), over, init);
        b.Block(over);
        FailWith(noMpi, "MPI was finalised already in this process and cannot start again (releasing a program that started MPI ends it)");
        b.Block(init);
        var provided = b.Alloca("i32");
        CallMpi("MPI_Init_thread", $"ptr null, ptr null, i32 {MpiApi.ThreadFunneled}, ptr {provided}", "MPI_Init_thread");
        b.Line($"store i32 1, ptr {Owned}");
        b.Br(started);
        b.Block(started);
        CallMpi("MPI_Comm_dup", $"ptr {MpiApi.Handle(b, "ompi_mpi_comm_world")}, ptr {World}", "MPI_Comm_dup (MPI_COMM_WORLD)");
        var world = b.Let($"load ptr, ptr {World}");
        CallMpi("MPI_Comm_set_errhandler", $"ptr {world}, ptr {MpiApi.Handle(b, "ompi_mpi_errors_return")}", "MPI_Comm_set_errhandler");
        CallMpi("MPI_Comm_rank", $"ptr {world}, ptr {Rank}", "MPI_Comm_rank");
        CallMpi("MPI_Comm_size", $"ptr {world}, ptr {Size}", "MPI_Comm_size");
        b.Line($"store i32 {Ready}, ptr {State}");
        b.Line("ret i32 0");
        m.AddFunction($"define internal i32 @{Init}() nounwind {{\n{b.Body()}}}");
    }

    /// <summary>The stop hook: finalises MPI when this library started it and nobody finalised it since; then the state is fresh again (and a new start reports that MPI was finalised).</summary>
    private static void EmitStop(ModuleContext m)
    {
        var b = new LlvmBuilder();
        var ours = b.Let($"and i1 {b.Let($"icmp eq i32 {b.Let($"load i32, ptr {State}")}, {Ready}")}, {b.Let($"icmp eq i32 {b.Let($"load i32, ptr {Owned}")}, 1")}");
        var end = b.FreshLabel("end");
        var check = b.FreshLabel("check");
        var fin = b.FreshLabel("fin");
        var done = b.FreshLabel("done");
        b.CondBr(ours, check, done);
        b.Block(check);
        var flag = b.Alloca("i32");
        b.Line($"store i32 0, ptr {flag}");
        b.Let($"call i32 {MpiApi.Function(b, "MPI_Finalized")}(ptr {flag})");
        b.CondBr(b.Let($"icmp eq i32 {b.Let($"load i32, ptr {flag}")}, 0"), fin, end);
        b.Block(fin);
        b.Let($"call i32 {MpiApi.Function(b, "MPI_Finalize")}()");
        b.Br(end);
        b.Block(end);
        b.Line($"store i32 {Fresh}, ptr {State}");
        b.Line($"store i32 0, ptr {Owned}");
        b.Br(done);
        b.Block(done);
        b.Line("ret void");
        m.AddFunction($"define internal void @{Stop}(i1 %wait) nounwind {{\n{b.Body()}}}");
    }

    /// <summary>
    /// The function <c>i32 (ptr out)</c> that stores the communicator of <paramref name="groups"/> (explicit
    /// groups) into <c>out</c>, splitting the runtime's world on its first call (every rank reaches it at the
    /// same collective): colour = the rank's group, key = its position there, so ranks in the new
    /// communicator follow the listed order. Returns <see cref="RuntimeStatus.ReplicaMismatch"/> when the
    /// world is not the groups' size.
    /// </summary>
    public static string Communicator(ModuleContext m, ReplicaGroups groups)
    {
        int world = groups.World ?? throw new ArgumentException("the world communicator needs no split");
        var key = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.ASCII.GetBytes($"{groups.GroupSize}:{string.Join(",", groups.Ids)}")))[..16];
        var name = $"gc.mpi.group.{key}";
        if (!m.FirstHelper(name)) return name;
        var colours = new int[world];
        var keys = new int[world];
        var list = groups.Groups(world);
        for (int g = 0; g < list.Count; g++)
            for (int p = 0; p < list[g].Length; p++) (colours[list[g][p]], keys[list[g][p]]) = (g, p);
        m.Global($"@{name}.comm = internal global ptr null");
        m.Global($"@{name}.colour = private unnamed_addr constant [{world} x i32] [{string.Join(", ", colours.Select(c => $"i32 {c}"))}]");
        m.Global($"@{name}.key = private unnamed_addr constant [{world} x i32] [{string.Join(", ", keys.Select(c => $"i32 {c}"))}]");

        var b = new LlvmBuilder();
        var have = b.Let($"load ptr, ptr @{name}.comm");
        var make = b.FreshLabel("make");
        var ready = b.FreshLabel("ready");
        b.CondBr(b.Let($"icmp eq ptr {have}, null"), make, ready);
        b.Block(make);
        var size = b.Let($"load i32, ptr {Size}");
        var bad = b.FreshLabel("bad");
        var good = b.FreshLabel("good");
        b.CondBr(b.Let($"icmp ne i32 {size}, {world}"), bad, good);
        b.Block(bad);
        MpiApi.Message(m, b, "replica groups list %d replicas, but the MPI world has %d (run it with mpirun -np %d)", $", i32 {world}, i32 {size}, i32 {world}");
        b.Line($"ret i32 {(int)RuntimeStatus.ReplicaMismatch}");
        b.Block(good);
        var rank = b.Let($"sext i32 {b.Let($"load i32, ptr {Rank}")} to i64");
        var colour = b.Let($"load i32, ptr {b.Let($"getelementptr inbounds [{world} x i32], ptr @{name}.colour, i64 0, i64 {rank}")}");
        var k = b.Let($"load i32, ptr {b.Let($"getelementptr inbounds [{world} x i32], ptr @{name}.key, i64 0, i64 {rank}")}");
        MpiApi.Call(m, b, "MPI_Comm_split", $"ptr {b.Let($"load ptr, ptr {World}")}, i32 {colour}, i32 {k}, ptr @{name}.comm", "MPI_Comm_split (replica groups)",
            status => b.Line($"ret i32 {status}"));
        b.Br(ready);
        b.Block(ready);
        b.Line($"store ptr {b.Let($"load ptr, ptr @{name}.comm")}, ptr %out");
        b.Line("ret i32 0");
        m.AddFunction($"define internal i32 @{name}(ptr %out) nounwind {{\n{b.Body()}}}");
        return name;
    }
}
