using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Telemetry;

namespace OpenExec.Gateway.Hosting;

/// <summary>Builds the gateway application: what <c>Program</c> runs and what functional tests start.</summary>
internal static class GatewayApp
{
    /// <summary>
    /// What <c>Program</c> runs: builds the app, finishes what a stopped process left unfinished,
    /// serves until shut down. Returns the exit code: 2 when the gateway refused to start (each
    /// reason on <paramref name="errors"/>), 0 after a shutdown or after the usage was asked for
    /// (<c>--help</c>, printed on <paramref name="output"/>, standard output by default).
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter errors, Action<WebApplicationBuilder>? configure = null, TextWriter? output = null)
    {
        if (CommandLineArguments.AsksForHelp(args))
        {
            // Nothing is read or started: no data dir made, no address bound.
            (output ?? Console.Out).WriteLine(CommandLineArguments.Usage);
            return 0;
        }
        WebApplication? app;
        IReadOnlyList<string> problems;
        try
        {
            // A start that fails is reported here, so the host's own line for it is left out.
            app = Build(args, out problems, configure: builder =>
            {
                ReportedStartFailure.Register(builder.Services);
                configure?.Invoke(builder);
            });
        }
        catch (Store.StoreUnavailableException ex) when (ex.InnerException is Microsoft.Data.Sqlite.SqliteException sqlite)
        {
            return StoreUnreadable(errors, ex.Message, sqlite);
        }
        if (app is null)
        {
            errors.WriteLine("OpenExec Gateway refused to start: invalid configuration");
            foreach (var problem in problems)
            {
                errors.WriteLine($"  - {problem}");
            }
            return 2;
        }
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.RecoverAsync().ConfigureAwait(false);
            }
            catch (Microsoft.Data.Sqlite.SqliteException ex)
            {
                return StoreUnreadable(errors, ex.Message, ex);
            }
            catch (Store.StoreUnavailableException ex)
            {
                // Claims a stopped process left unfinished get their outcome_unknown receipts
                // before anything is served; a store that cannot write them (a full disk, a lock
                // held elsewhere) cannot take claims either. Refused, as any start that cannot serve.
                errors.WriteLine("OpenExec Gateway refused to start: the store cannot record the outcome of claims a stopped process left unfinished");
                errors.WriteLine($"  - {ex.Message}{(ex.InnerException is { } inner ? ": " + inner.Message : "")}");
                errors.WriteLine("  - nothing was served and nothing was lost: start again once the store can write (free disk space, end the other writer)");
                return 2;
            }
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (app.Lifetime.ApplicationStopping.IsCancellationRequested)
            {
                // A stop (SIGTERM, Ctrl+C) that came while starting, Kestrel binding say: the start
                // is abandoned, as asked, and what did start is stopped in order. Nothing was served.
                // It escaped unhandled (SIGABRT, exit 134).
                try
                {
                    await app.StopAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Best effort, as when a start fails: the process is ending as asked.
                }
                return 0;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // What only starting finds: the address taken or not bindable (Kestrel). Nothing
                // was served; what did start (the store's background work) is stopped in order.
                try
                {
                    await app.StopAsync().ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Best effort: the start's own failure is the one to report.
                }
                errors.WriteLine("OpenExec Gateway refused to start");
                foreach (var reason in Reasons(ex))
                {
                    errors.WriteLine($"  - {reason}");
                }
                return 2;
            }
            LogWarnings(app);
            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary>
    /// What <c>/health</c> warns of, in the start-up log too: the operator who forgot
    /// <c>OPENEXEC_MODE=clawshield</c> watches the start, not <c>/health</c>.
    /// </summary>
    private static void LogWarnings(WebApplication app)
    {
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("OpenExec.Gateway");
        foreach (var warning in app.Services.GetRequiredService<GatewaySettings>().Warnings)
        {
            StartupLog.Warning(log, warning);
        }
    }

    /// <summary>
    /// The embedded store could not be opened or read at start: named, not a crash (SIGABRT).
    /// Restoring a backup is the advice only for a damaged file: for a full disk or a permission
    /// it would bring back an older state, whose later nonces could run again.
    /// </summary>
    private static int StoreUnreadable(TextWriter errors, string reason, Microsoft.Data.Sqlite.SqliteException sqlite)
    {
        errors.WriteLine("OpenExec Gateway refused to start: the embedded store cannot be read");
        errors.WriteLine($"  - {reason}");
        errors.WriteLine(sqlite.SqliteErrorCode is 11 or 26 // SQLITE_CORRUPT, SQLITE_NOTADB
            ? "  - nothing was served: the file is damaged; restore the data dir from its latest backup (nonces used after it was taken run again: README, \"A restored backup\"); or move the whole data dir aside (not only the database: its gateway-id would continue the chain from seq 1, a fork) to start a new chain under a new gateway id, and nonces used before run again"
            : "  - nothing was served: free disk space, fix the data dir's permissions or end the process holding the database, then start again (the data dir itself is kept as it is)");
        return 2;
    }

    /// <summary>The messages of an exception and of the ones inside it, each once.</summary>
    private static IEnumerable<string> Reasons(Exception ex)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Queue<Exception>([ex]);
        while (pending.TryDequeue(out var next))
        {
            if (seen.Add(next.Message))
            {
                yield return next.Message;
            }
            foreach (var inner in next is AggregateException aggregate ? aggregate.InnerExceptions : next.InnerException is { } one ? [one] : [])
            {
                pending.Enqueue(inner);
            }
        }
    }

    /// <summary>
    /// Builds the app, or returns null with every configuration problem; throws
    /// <see cref="Store.StoreUnavailableException"/> when the embedded store cannot be read.
    /// <paramref name="environment"/> replaces the process environment for the seed's variables
    /// (tests); <paramref name="configure"/> runs last (tests replace the clock).
    /// </summary>
    public static WebApplication? Build(string[] args, out IReadOnlyList<string> problems, IDictionary<string, string?>? environment = null, Action<WebApplicationBuilder>? configure = null)
    {
        // Before the host reads them: it would misread them the same way (and throws on "-x=1").
        if (CommandLineArguments.Problems(args) is { Count: > 0 } argumentProblems)
        {
            problems = argumentProblems;
            return null;
        }
        // appsettings.json ships beside the binary; relative paths (OpenExec:DataDir) stay
        // relative to the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (builder.Configuration.AddOpenExecSources(args, environment) is { Count: > 0 } sourceProblems)
        {
            problems = sourceProblems;
            return null;
        }
        problems = builder.AddOpenExecGateway();
        if (problems.Count > 0)
        {
            return null;
        }
        builder.AddOpenExecTelemetry();
        configure?.Invoke(builder);
        var app = builder.Build();
        try
        {
            app.UseOpenExecGateway();
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            var store = Path.Combine(app.Services.GetRequiredService<GatewaySettings>().Options.DataDir, GatewayIdentity.LedgerFile);
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new Store.StoreUnavailableException($"'{store}': {ex.Message}", ex);
        }
        catch (InvalidOperationException ex)
        {
            // YARP validates the proxy configuration as the pipeline maps it (a route with no
            // Match, an unknown load-balancing policy): named, not thrown.
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            problems = [.. Reasons(ex).Select(reason => $"ReverseProxy: {reason}")];
            return null;
        }
        return app;
    }
}

/// <summary>The gateway's own start-up log lines.</summary>
internal static partial class StartupLog
{
    [LoggerMessage(1, LogLevel.Warning, "{Warning}")]
    public static partial void Warning(ILogger logger, string warning);
}
