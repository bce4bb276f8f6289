using Microsoft.Extensions.Primitives;
using OpenExec.Gateway.Configuration;

namespace OpenExec.Gateway.Hosting;

/// <summary>
/// The gateway's own settings (<c>OpenExec:*</c>) are read once, at start-up. ASP.NET Core
/// reloads the <c>appsettings.json</c> beside the binary when it changes, and YARP applies the
/// proxy part of such a save; the <c>OpenExec</c> part is not applied. An operator who revokes a
/// governance key or narrows the allow-list that way must hear that it has not happened: each
/// reload that changes an <c>OpenExec</c> value is logged as an error naming the keys.
/// </summary>
internal sealed partial class StartupSettingsWatch(IConfiguration configuration, ILogger<StartupSettingsWatch> log) : IHostedService, IDisposable
{
    private Dictionary<string, string?> _inForce = [];
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _inForce = Snapshot(configuration);
        _subscription = ChangeToken.OnChange(configuration.GetReloadToken, Check);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _subscription?.Dispose();

    private void Check()
    {
        var now = Snapshot(configuration);
        var changed = now.Keys.Union(_inForce.Keys, StringComparer.OrdinalIgnoreCase)
            .Where(key => !string.Equals(now.GetValueOrDefault(key), _inForce.GetValueOrDefault(key), StringComparison.Ordinal))
            .Order(StringComparer.OrdinalIgnoreCase)
            .ToList();
        if (changed.Count > 0)
        {
            // Names only: a value may be a key or a token.
            LogNotApplied(log, string.Join(", ", changed));
        }
    }

    /// <summary>Every <c>OpenExec</c> value as configuration now reads it, by key (values may be secrets: kept in memory only).</summary>
    private static Dictionary<string, string?> Snapshot(IConfiguration configuration)
        => configuration.GetSection(OpenExecOptions.Section).AsEnumerable()
            .Where(pair => pair.Value is not null)
            .ToDictionary(pair => pair.Key, pair => pair.Value, StringComparer.OrdinalIgnoreCase);

    [LoggerMessage(1, LogLevel.Error, "Configuration reloaded with changed OpenExec settings ({Keys}): they are read at start-up and are NOT applied; the settings in force are those the gateway started with (see /health). Restart the gateway to apply them")]
    private static partial void LogNotApplied(ILogger logger, string keys);
}
