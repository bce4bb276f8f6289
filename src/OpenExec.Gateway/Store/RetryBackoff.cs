namespace OpenExec.Gateway.Store;

/// <summary>
/// Background retries of a store write that must land eventually (a claim's outcome, a release):
/// waits doubling from 100 ms to 5 s between attempts, for as long as the caller says it still matters.
/// </summary>
internal static class RetryBackoff
{
    private static readonly TimeSpan First = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Runs <paramref name="attempt"/> until it succeeds, retrying after failures
    /// <paramref name="transient"/> accepts, while <paramref name="keepTrying"/> holds;
    /// <paramref name="waitFirst"/> waits before the first attempt too.
    /// </summary>
    public static async Task RunAsync(Func<Task> attempt, Func<Exception, bool> transient, Func<bool> keepTrying, bool waitFirst = false)
    {
        var delay = First;
        for (var first = true; keepTrying(); first = false)
        {
            if (waitFirst || !first)
            {
                await Task.Delay(delay).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Longest.Ticks));
                if (!keepTrying())
                {
                    // The wait may have crossed the limit (a lease's end): no attempt past it.
                    return;
                }
            }
            try
            {
                await attempt().ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (transient(ex))
            {
            }
        }
    }
}
