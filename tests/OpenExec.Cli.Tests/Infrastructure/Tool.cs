using System.Diagnostics;

namespace OpenExec.Cli.Tests.Infrastructure;

/// <summary>What one run of the tool gave: exit code, stdout, stderr.</summary>
public sealed record CliRun(int ExitCode, string Out, string Err)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

/// <summary>Runs the tool in process (<see cref="CliApp.RunAsync"/>) or as the real built program.</summary>
public static class Tool
{
    public static async Task<CliRun> RunAsync(params string[] args) => await RunAsync(null, args);

    public static async Task<CliRun> RunAsync(TimeProvider? time, params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, time);
        return new CliRun(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs <c>dotnet openexec.dll ARGS</c>: the built tool, as a user runs it.</summary>
    public static Task<CliRun> RunProcessAsync(params string[] args) => RunProcessWithInputAsync(null, args);

    /// <summary>The built tool with <paramref name="stdin"/> (or nothing) on its standard input.</summary>
    public static Task<CliRun> RunProcessWithInputAsync(byte[]? stdin, params string[] args) => RunProcessAsync(stdin, null, args);

    /// <summary>The built tool with <paramref name="environment"/> added to its environment.</summary>
    public static Task<CliRun> RunProcessWithEnvironmentAsync(IDictionary<string, string> environment, params string[] args) => RunProcessAsync(null, environment, args);

    private static async Task<CliRun> RunProcessAsync(byte[]? stdin, IDictionary<string, string>? environment, string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "openexec.dll");
        Assert.True(File.Exists(dll), $"the built tool is missing: {dll}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return new CliRun(process.ExitCode, await stdout, await stderr);
    }
}
