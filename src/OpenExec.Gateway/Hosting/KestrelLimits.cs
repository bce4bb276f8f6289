using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace OpenExec.Gateway.Hosting;

/// <summary>
/// Kestrel's own limits from <c>Kestrel:Limits</c> (<c>MaxConcurrentConnections</c>,
/// <c>MaxRequestHeaderCount</c>, <c>Http2:MaxStreamsPerConnection</c>...). The host binds only
/// the endpoints from the <c>Kestrel</c> section: a limit set there was ignored, and
/// <c>MaxConcurrentConnections</c> set at all removed the gateway's own default, so the
/// connection limit was gone. The request body limit is <c>OpenExec:MaxRequestBodyBytes</c>, and
/// the slow-client rates are read by <see cref="SlowClientLimits"/>; both are applied after this.
/// </summary>
internal static class KestrelLimits
{
    /// <summary>Adds a problem, naming the setting, for each value Kestrel would refuse as it starts.</summary>
    public static void Check(IConfigurationSection section, List<string> problems)
    {
        foreach (var (key, value) in section.AsEnumerable(makePathsRelative: true))
        {
            if (value is null)
            {
                continue;
            }
            // One setting at a time, so that the problem names it: the setters' own messages do not.
            var alone = new ConfigurationBuilder().AddInMemoryCollection([new KeyValuePair<string, string?>(key, value)]).Build();
            try
            {
                alone.Bind(new KestrelServerLimits());
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or System.Reflection.TargetInvocationException)
            {
                // The binder wraps a setter's refusal (a reflection call): the innermost message
                // gives the value's rule ("Value must be a positive number").
                var inner = ex;
                while (inner.InnerException is not null)
                {
                    inner = inner.InnerException;
                }
                problems.Add($"Kestrel:Limits:{key}: {inner.Message}");
            }
        }
    }

    public static void Bind(IConfigurationSection section, KestrelServerLimits limits) => section.Bind(limits);
}
