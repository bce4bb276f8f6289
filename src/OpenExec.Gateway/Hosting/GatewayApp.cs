using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Telemetry;

namespace OpenExec.Gateway.Hosting;

/// <summary>Builds the gateway application: what <c>Program</c> runs and what functional tests start.</summary>
internal static class GatewayApp
{
    /// <summary>
    /// Builds the app, or returns null with every configuration problem.
    /// <paramref name="environment"/> replaces the process environment for the seed's variables
    /// (tests); <paramref name="configure"/> runs last (tests replace the clock).
    /// </summary>
    public static WebApplication? Build(string[] args, out IReadOnlyList<string> problems, IDictionary<string, string?>? environment = null, Action<WebApplicationBuilder>? configure = null)
    {
        // appsettings.json ships beside the binary; relative paths (OpenExec:DataDir) stay
        // relative to the working directory.
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (builder.Configuration.AddOpenExecSources(args, environment) is { } fileProblem)
        {
            problems = [fileProblem];
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
        app.UseOpenExecGateway();
        return app;
    }
}
