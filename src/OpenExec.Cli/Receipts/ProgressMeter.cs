using System.Globalization;

namespace OpenExec.Cli.Receipts;

/// <summary>Progress of a long export or audit on stderr: the count and rate, at most once a second.</summary>
internal sealed class ProgressMeter(TextWriter error, TimeProvider time, string verb)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private string _verb = verb;
    private long _started = time.GetTimestamp();
    private long _lastReport = time.GetTimestamp();

    public long Count { get; private set; }

    /// <summary>Starts a new phase (e.g. from reading to auditing): count and rate from zero.</summary>
    public void Restart(string verb)
    {
        _verb = verb;
        Count = 0;
        _started = _lastReport = time.GetTimestamp();
    }

    public void Add(long count = 1)
    {
        Count += count;
        if (time.GetElapsedTime(_lastReport) >= Interval)
        {
            _lastReport = time.GetTimestamp();
            error.WriteLine($"{_verb} {Count.ToString("N0", CultureInfo.InvariantCulture)} receipts ({Rate()}/s)...");
        }
    }

    /// <summary>The rate so far in this phase.</summary>
    public string Rate()
    {
        var seconds = time.GetElapsedTime(_started).TotalSeconds;
        return seconds > 0 ? (Count / seconds).ToString("N0", CultureInfo.InvariantCulture) : "-";
    }
}
