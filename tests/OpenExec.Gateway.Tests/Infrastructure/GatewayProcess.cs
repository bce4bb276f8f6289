using System.Diagnostics;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway as a child process (<c>dotnet OpenExec.Gateway.dll</c>) on a loopback port
/// chosen by the OS, so that tests can kill it with SIGKILL and restart it on the same data dir.
/// Its stdout and stderr are captured for assertions and for failure messages.
/// </summary>
public sealed partial class GatewayProcess : IAsyncDisposable, IDisposable
{
    /// <summary>How long a gateway may take to start listening, or to exit when it must refuse.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Inherited variables that would change the gateway under test; removed before start.</summary>
    private static readonly string[] InheritedPrefixes = ["OPENEXEC_", "CLAWSHIELD_", "OpenExec__", "ConnectionStrings__", "ASPNETCORE_URLS", "DOTNET_URLS", "ASPNETCORE_HTTP", "DOTNET_HTTP"];

    private static readonly Lazy<string> GatewayDll = new(FindGatewayDll);

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private HttpClient? _client;
    private bool _disposed;

    private GatewayProcess(Process process, string dataDir)
    {
        _process = process;
        DataDir = dataDir;
    }

    public string DataDir { get; }

    public int ProcessId => _process.Id;

    /// <summary>Where the gateway listens; set once it logged <c>Now listening on</c>.</summary>
    public Uri BaseAddress => _listening.Task.IsCompletedSuccessfully ? _listening.Task.Result : throw new InvalidOperationException("The gateway is not listening");

    /// <summary>A client for this gateway (30 s timeout); it outlives a kill, so that callers see connection errors.</summary>
    public HttpClient Client => _client ?? throw new InvalidOperationException("The gateway never listened");

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code once the process has exited, otherwise null.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Everything the process wrote, for failure messages.</summary>
    public string Output => $"exit code: {(ExitCode is { } code ? code.ToString(System.Globalization.CultureInfo.InvariantCulture) : "running")}\n--- stdout ---\n{StandardOutput}\n--- stderr ---\n{StandardError}";

    /// <summary>
    /// Starts a gateway on <paramref name="dataDir"/> and waits until it listens. Throws, with
    /// everything the process wrote, if it exits or does not listen within <see cref="StartTimeout"/>.
    /// <paramref name="args"/> are more command-line arguments (<c>--OpenExec:Mode=demo</c>,
    /// <c>--config FILE</c>); <paramref name="environment"/> more variables (null value = unset).
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(string dataDir, IEnumerable<string>? args = null, IDictionary<string, string?>? environment = null, int? maxOpenFiles = null)
    {
        var gateway = Launch(dataDir, args, environment, maxOpenFiles);
        var exited = gateway._process.WaitForExitAsync();
        var first = await Task.WhenAny(gateway._listening.Task, exited, Task.Delay(StartTimeout)).ConfigureAwait(false);
        if (first == gateway._listening.Task)
        {
            gateway._client = new HttpClient { BaseAddress = gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
            return gateway;
        }
        var reason = first == exited ? "exited before listening" : $"did not listen within {StartTimeout.TotalSeconds:0} s";
        gateway.KillHard();
        var output = gateway.Output;
        await gateway.DisposeAsync().ConfigureAwait(false);
        throw new InvalidOperationException($"The gateway {reason}.\n{output}");
    }

    /// <summary>
    /// Starts a gateway that is expected to refuse to start and waits for it to exit. Throws,
    /// with its output, if it starts listening instead or does not exit within <see cref="StartTimeout"/>.
    /// </summary>
    public static async Task<GatewayProcess> RunToExitAsync(string dataDir, IEnumerable<string>? args = null, IDictionary<string, string?>? environment = null)
    {
        var gateway = Launch(dataDir, args, environment);
        var exited = gateway._process.WaitForExitAsync();
        var first = await Task.WhenAny(exited, gateway._listening.Task, Task.Delay(StartTimeout)).ConfigureAwait(false);
        if (first == exited)
        {
            // The parameterless wait also drains the asynchronous stdout/stderr readers.
            gateway._process.WaitForExit();
            return gateway;
        }
        var reason = first == gateway._listening.Task ? "started listening" : $"did not exit within {StartTimeout.TotalSeconds:0} s";
        gateway.KillHard();
        var output = gateway.Output;
        await gateway.DisposeAsync().ConfigureAwait(false);
        throw new InvalidOperationException($"The gateway was expected to refuse to start but {reason}.\n{output}");
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a power cut of the process. Waits for the exit.</summary>
    public void KillHard()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It exited between the check and the kill.
            }
        }
        _process.WaitForExit();
    }

    /// <summary>A graceful stop (SIGTERM on Unix): waits for the exit and returns its code.</summary>
    public async Task<int> StopAsync()
    {
        if (!_process.HasExited)
        {
            if (OperatingSystem.IsWindows() || SendSignal(_process.Id, SigTerm) != 0)
            {
                KillHard();
            }
            using var timeout = new CancellationTokenSource(StartTimeout);
            try
            {
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                KillHard();
            }
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    /// <summary>POST /execute with a demo-mode body (no approval).</summary>
    public Task<HttpResponseMessage> ExecuteAsync(string action, object payload, string nonce, CancellationToken cancellationToken = default)
    {
        var json = JsonSerializer.Serialize(new { action, payload, nonce });
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return Client.PostAsync("/execute", content, cancellationToken);
    }

    /// <summary>GET /health.</summary>
    public async Task<JsonElement> HealthAsync() => await Json.ReadAsync(await Client.GetAsync("/health").ConfigureAwait(false)).ConfigureAwait(false);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        KillHard();
        _client?.Dispose();
        _process.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <param name="maxOpenFiles">When set, the process runs under this file-descriptor limit (util-linux <c>prlimit</c>).</param>
    private static GatewayProcess Launch(string dataDir, IEnumerable<string>? args, IDictionary<string, string?>? environment, int? maxOpenFiles = null)
    {
        var dll = GatewayDll.Value;
        var info = new ProcessStartInfo(maxOpenFiles is null ? DotnetHost() : "prlimit")
        {
            // The content root (appsettings.json) is the gateway's own output folder.
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (maxOpenFiles is { } files)
        {
            info.ArgumentList.Add($"--nofile={files}:{files}");
            info.ArgumentList.Add(DotnetHost());
        }
        info.ArgumentList.Add(dll);
        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add("http://127.0.0.1:0");
        info.ArgumentList.Add($"--OpenExec:DataDir={dataDir}");
        info.ArgumentList.Add("--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        info.ArgumentList.Add("--Logging:Console:FormatterName=simple");
        foreach (var arg in args ?? [])
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var name in info.Environment.Keys.ToList())
        {
            if (InheritedPrefixes.Any(prefix => name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)))
            {
                info.Environment.Remove(name);
            }
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var gateway = new GatewayProcess(process, dataDir);
        process.OutputDataReceived += (_, e) => gateway.OnStdout(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.OnStderr(e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {info.FileName} {dll}");
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return gateway;
    }

    private void OnStdout(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_stdout)
        {
            _stdout.AppendLine(line);
        }
        if (ListeningLine().Match(line) is { Success: true } match)
        {
            _listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    private void OnStderr(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_stderr)
        {
            _stderr.AppendLine(line);
        }
    }

    /// <summary>The muxer that runs this test (the SDK sets DOTNET_HOST_PATH for child processes), else <c>dotnet</c> on the PATH.</summary>
    private static string DotnetHost()
    {
        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath))
        {
            return hostPath;
        }
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }
        return "dotnet";
    }

    /// <summary>
    /// The gateway assembly with its runtimeconfig: copied next to the test assembly by the
    /// project reference, or else in the gateway's own bin folder (same configuration first).
    /// </summary>
    private static string FindGatewayDll()
    {
        static bool Runnable(string dir) =>
            File.Exists(Path.Combine(dir, "OpenExec.Gateway.dll")) && File.Exists(Path.Combine(dir, "OpenExec.Gateway.runtimeconfig.json"));

        var here = AppContext.BaseDirectory;
        if (Runnable(here))
        {
            return Path.Combine(here, "OpenExec.Gateway.dll");
        }

        var root = new DirectoryInfo(here);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "OpenExec.Gateway.sln")))
        {
            root = root.Parent;
        }
        if (root is not null)
        {
            var configuration = here.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            foreach (var candidate in new[] { configuration, configuration == "Debug" ? "Release" : "Debug" })
            {
                var dir = Path.Combine(root.FullName, "src", "OpenExec.Gateway", "bin", candidate, "net10.0");
                if (Runnable(dir))
                {
                    return Path.Combine(dir, "OpenExec.Gateway.dll");
                }
            }
        }
        throw new FileNotFoundException($"OpenExec.Gateway.dll with its runtimeconfig.json was found neither in {here} nor in src/OpenExec.Gateway/bin; build the gateway first");
    }

    private const int SigTerm = 15;

    // Only ints cross: a plain DllImport needs no marshalling code (LibraryImport would need unsafe blocks).
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SendSignal(int pid, int signal);

    [GeneratedRegex(@"Now listening on: (https?://\S+)")]
    private static partial Regex ListeningLine();
}
