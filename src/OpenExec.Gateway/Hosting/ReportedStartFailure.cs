using Microsoft.Extensions.DependencyInjection.Extensions;

namespace OpenExec.Gateway.Hosting;

/// <summary>
/// Leaves out the host's own "Hosting failed to start" line (its stack, some 30 lines, for an
/// address already in use) where <see cref="GatewayApp.RunAsync"/> reports a failed start
/// itself: named, each reason once, exit status 2. Every other line of the host, and that one
/// wherever nothing else reports it, is logged as before.
/// </summary>
internal sealed class ReportedStartFailure(ILoggerFactory inner) : ILoggerFactory
{
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";
    private const string StartFaulted = "HostedServiceStartupFaulted";

    /// <summary>Wraps the logger factory the host builds (the one registered by <c>AddLogging</c>).</summary>
    public static void Register(IServiceCollection services)
    {
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(sp => new ReportedStartFailure(ActivatorUtilities.CreateInstance<LoggerFactory>(sp))));
    }

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return categoryName == HostCategory ? new HostLogger(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    private sealed class HostLogger(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Name != StartFaulted)
            {
                inner.Log(logLevel, eventId, state, exception, formatter);
            }
        }
    }
}
