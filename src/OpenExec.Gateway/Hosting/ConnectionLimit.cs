namespace OpenExec.Gateway.Hosting;

/// <summary>
/// Kestrel's default is no limit on client connections, and a connection that never sends a
/// byte is held until its keep-alive timeout (130 s): idle connections alone used up the
/// process's file descriptors, after which nothing was served and the runtime aborted (out of
/// memory). Unless <c>Kestrel:Limits:MaxConcurrentConnections</c> is set, the gateway takes half
/// of the descriptors left after a reserve for its own files, so that its backend connections
/// (one per call in flight) and its store always have theirs; connections beyond it are closed
/// as they come, and the process keeps serving those it holds.
/// </summary>
internal static class ConnectionLimit
{
    /// <summary>Descriptors kept aside for the store, logs, the runtime and the like.</summary>
    private const long Reserve = 256;

    /// <summary>The default connection limit, or null where the descriptor limit cannot be read (not Linux) or is unlimited.</summary>
    public static long? Default()
    {
        try
        {
            return OperatingSystem.IsLinux() ? FromLimits(File.ReadAllText("/proc/self/limits")) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>From <c>/proc/self/limits</c>: half of the soft "Max open files" limit after the reserve, at least 64.</summary>
    internal static long? FromLimits(string limits)
    {
        foreach (var line in limits.Split('\n'))
        {
            if (!line.StartsWith("Max open files", StringComparison.Ordinal))
            {
                continue;
            }
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length > 3 && long.TryParse(fields[3], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var soft)
                ? Math.Max(64, (soft - Reserve) / 2)
                : null;
        }
        return null;
    }
}
