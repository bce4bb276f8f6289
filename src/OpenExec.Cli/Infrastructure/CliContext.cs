namespace OpenExec.Cli.Infrastructure;

/// <summary>What every command writes to and reads time from; tests pass their own writers and clock.</summary>
internal sealed class CliContext(TextWriter output, TextWriter error, TimeProvider time) : IDisposable
{
    /// <summary>Bounds each HTTP request (one page of an export, the key set).</summary>
    public static readonly TimeSpan HttpTimeout = TimeSpan.FromSeconds(100);

    private HttpClient? _http;

    /// <summary>Results: artifacts, hashes, exports, written as they are. Scripts read this.</summary>
    public TextWriter Out { get; } = output;

    /// <summary>Reports on standard output (verify, audit): they quote untrusted values, so control characters are escaped.</summary>
    public TextWriter Report { get; } = new TerminalText(output);

    /// <summary>Errors, notes and progress, control characters escaped (they quote files and servers).</summary>
    public TextWriter Err { get; } = new TerminalText(error);

    public TimeProvider Time { get; } = time;

    public HttpClient Http => _http ??= new HttpClient { Timeout = HttpTimeout };

    public void Dispose() => _http?.Dispose();
}
