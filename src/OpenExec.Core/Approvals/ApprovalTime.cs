using System.Globalization;
using System.Text.RegularExpressions;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Approval timestamps: ISO-8601 date and time as Python's <c>datetime.isoformat()</c> writes them
/// (<c>2026-11-24T18:05:00.123456</c>), optionally with <c>Z</c> or <c>±HH:MM</c> (any offset
/// under a day, as Python allows); without an offset they mean UTC. Up to nine fractional digits
/// (Go's RFC3339Nano, Java's <c>Instant</c>), read to 100 ns. Exact formats only, never
/// DateTime.Parse's guessing.
/// </summary>
public static partial class ApprovalTime
{
    private static readonly string[] Formats = BuildFormats();

    public static bool TryParse(string? text, out DateTimeOffset value)
    {
        value = default;
        // The shape first: TryParseExact's "zzz" would also take "+2:00" and "+0200".
        if (string.IsNullOrEmpty(text) || Shape().Match(text) is not { Success: true } shape)
        {
            return false;
        }
        // The offset is applied here: Python writes any offset under a day (+15:00, -23:59),
        // DateTimeOffset holds only +-14:00.
        var offset = TimeSpan.Zero;
        var local = text;
        if (shape.Groups["offset"] is { Success: true, Value: var zone })
        {
            local = text[..^zone.Length];
            if (zone != "Z")
            {
                var hours = int.Parse(zone.AsSpan(1, 2), CultureInfo.InvariantCulture);
                var minutes = int.Parse(zone.AsSpan(4, 2), CultureInfo.InvariantCulture);
                if (hours > 23 || minutes > 59)
                {
                    return false;
                }
                offset = zone[0] == '-' ? -new TimeSpan(hours, minutes, 0) : new TimeSpan(hours, minutes, 0);
            }
        }
        if (shape.Groups["fraction"] is { Success: true, Length: > MaxFractionDigits + 1 } fraction)
        {
            // A DateTime holds 100 ns ticks: the 8th and 9th digits are dropped, which moves the
            // instant earlier by under 100 ns (offsets are whole minutes) and never rounds into
            // the next second. Safe at both ends of the window: an earlier expires_at only
            // shortens it; an issued_at under 100 ns earlier lets the approval run under 100 ns
            // sooner and moves the lifetime by as little, nothing next to the skew (seconds). The
            // signature still covers the text as sent.
            local = local.Remove(fraction.Index + 1 + MaxFractionDigits, fraction.Length - 1 - MaxFractionDigits);
        }
        if (!DateTime.TryParseExact(local, Formats, CultureInfo.InvariantCulture, DateTimeStyles.None, out var wallClock))
        {
            return false;
        }
        // The instant is the wall-clock time less its offset; one outside DateTime's years 1-9999
        // cannot be compared with anything and is refused.
        var ticks = wallClock.Ticks - offset.Ticks;
        if (ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks)
        {
            return false;
        }
        value = new DateTimeOffset(ticks, TimeSpan.Zero);
        return true;
    }

    /// <summary>Formats as Python's <c>isoformat()</c> of a naive UTC datetime: <c>yyyy-MM-ddTHH:mm:ss.ffffff</c>.</summary>
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?<fraction>\.[0-9]{1,9})?(?<offset>Z|[+-][0-9]{2}:[0-9]{2})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();

    /// <summary>The fractional digits a DateTime keeps (100 ns); more are read and dropped.</summary>
    private const int MaxFractionDigits = 7;

    private static string[] BuildFormats()
    {
        const string date = "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        return [date, .. from digits in Enumerable.Range(1, MaxFractionDigits) select date + "'.'" + new string('f', digits)];
    }
}
