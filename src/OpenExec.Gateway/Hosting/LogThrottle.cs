namespace OpenExec.Gateway.Hosting;

/// <summary>
/// For a failure that repeats while it lasts (a store outage, a full disk): the exception itself
/// (its stack, and with Redis a screen of connection diagnostics) is logged at most once per
/// interval, and a one-line summary otherwise, so an outage under load is not thousands of lines
/// a second.
/// </summary>
internal sealed class LogThrottle(TimeSpan interval)
{
    private readonly long _intervalMs = (long)interval.TotalMilliseconds;
    private long _nextDetailed;

    /// <summary>
    /// Logs <paramref name="exception"/> in full (<paramref name="full"/>) at most once per
    /// interval, and otherwise as one line naming its cause (<paramref name="oneLine"/>).
    /// </summary>
    public void Log<TState>(Exception exception, TState state, Action<TState, Exception> full, Action<TState, string> oneLine)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (Detailed())
        {
            full(state, exception);
        }
        else
        {
            oneLine(state, Reason(exception));
        }
    }

    /// <summary>Whether this occurrence is logged in full (true at most once per interval).</summary>
    private bool Detailed()
    {
        var now = Environment.TickCount64;
        var next = Interlocked.Read(ref _nextDetailed);
        return now >= next && Interlocked.CompareExchange(ref _nextDetailed, now + _intervalMs, next) == next;
    }

    /// <summary>The longest reason a one-line summary gives; the full message comes with the next detailed entry.</summary>
    internal const int ReasonLength = 160;

    /// <summary>
    /// What a one-line summary says of <paramref name="exception"/>: the innermost message up to its
    /// first line break or "; " (StackExchange.Redis follows its sentence with a screen of
    /// connection diagnostics on the same line), at most <see cref="ReasonLength"/> characters.
    /// </summary>
    internal static string Reason(Exception exception)
    {
        var message = (exception.InnerException ?? exception).Message.AsSpan();
        var end = message.IndexOfAny('\r', '\n');
        message = end < 0 ? message : message[..end];
        end = message.IndexOf("; ", StringComparison.Ordinal);
        message = end < 0 ? message : message[..end];
        return message.Length <= ReasonLength ? message.ToString() : string.Concat(message[..(ReasonLength - 1)], "…");
    }
}
