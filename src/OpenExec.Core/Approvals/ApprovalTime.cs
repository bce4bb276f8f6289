using System.Globalization;
using System.Text.RegularExpressions;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Approval timestamps: ISO-8601 date and time as Python's <c>datetime.isoformat()</c> writes them
/// (<c>2026-11-24T18:05:00.123456</c>), optionally with <c>Z</c> or <c>±HH:MM</c> (any offset
/// under a day, as Python allows); without an offset they mean UTC. Exact formats only, never DateTime.Parse's guessing.
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

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(?<offset>Z|[+-][0-9]{2}:[0-9]{2})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();

    private static string[] BuildFormats()
    {
        const string date = "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        return [date, .. from digits in Enumerable.Range(1, 7) select date + "'.'" + new string('f', digits)];
    }
}
