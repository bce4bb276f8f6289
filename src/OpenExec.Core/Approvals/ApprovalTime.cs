using System.Globalization;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Approval timestamps: ISO-8601 date and time as Python's <c>datetime.isoformat()</c> writes them
/// (<c>2026-11-24T18:05:00.123456</c>), optionally with <c>Z</c> or <c>±HH:MM</c> (any offset
/// under a day, as Python allows); without an offset they mean UTC. Up to nine fractional digits
/// (Go's RFC3339Nano, Java's <c>Instant</c>), read to 100 ns. Exact formats only, never
/// DateTime.Parse's guessing.
/// </summary>
public static class ApprovalTime
{
    private static readonly string[] Formats = BuildFormats();

    public static bool TryParse(string? text, out DateTimeOffset value) => TryParse(text.AsSpan(), out value);

    /// <summary>As <see cref="TryParse(string?, out DateTimeOffset)"/>, from characters (empty: none).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out DateTimeOffset value)
    {
        value = default;
        // The shape first: TryParseExact's "zzz" would also take "+2:00" and "+0200".
        if (text.IsEmpty || !TryShape(text, out var fractionLength, out var offsetLength))
        {
            return false;
        }
        // The offset is applied here: Python writes any offset under a day (+15:00, -23:59),
        // DateTimeOffset holds only +-14:00.
        var offset = TimeSpan.Zero;
        var local = text[..(text.Length - offsetLength)];
        if (offsetLength == OffsetDigitsLength)
        {
            var zone = text[local.Length..];
            var hours = (zone[1] - '0') * 10 + (zone[2] - '0');
            var minutes = (zone[4] - '0') * 10 + (zone[5] - '0');
            if (hours > 23 || minutes > 59)
            {
                return false;
            }
            offset = zone[0] == '-' ? -new TimeSpan(hours, minutes, 0) : new TimeSpan(hours, minutes, 0);
        }
        if (fractionLength > MaxFractionDigits + 1)
        {
            // A DateTime holds 100 ns ticks: the 8th and 9th digits are dropped, which moves the
            // instant earlier by under 100 ns (offsets are whole minutes) and never rounds into
            // the next second. Safe at both ends of the window: an earlier expires_at only
            // shortens it; an issued_at under 100 ns earlier lets the approval run under 100 ns
            // sooner and moves the lifetime by as little, nothing next to the skew (seconds). The
            // signature still covers the text as sent.
            local = local[..(DateTimeLength + 1 + MaxFractionDigits)];
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

    /// <summary>The length of <c>yyyy-MM-ddTHH:mm:ss</c>.</summary>
    private const int DateTimeLength = 19;

    /// <summary>The length of a <c>±HH:MM</c> offset.</summary>
    private const int OffsetDigitsLength = 6;

    /// <summary>
    /// The shape <c>dddd-dd-ddTdd:dd:dd(.d{1,9})?(Z|[+-]dd:dd)?</c> (d an ASCII digit), read by
    /// hand rather than by a regex (whose match and groups were ~0.35 KB per timestamp): the
    /// fraction's length with its '.', and the offset's (0, 1 for <c>Z</c>, or 6).
    /// </summary>
    internal static bool TryShape(ReadOnlySpan<char> text, out int fractionLength, out int offsetLength)
    {
        fractionLength = 0;
        offsetLength = 0;
        if (text.Length < DateTimeLength)
        {
            return false;
        }
        for (var i = 0; i < DateTimeLength; i++)
        {
            var expected = "dddd-dd-ddTdd:dd:dd"[i];
            if (expected == 'd' ? !char.IsAsciiDigit(text[i]) : text[i] != expected)
            {
                return false;
            }
        }
        var at = DateTimeLength;
        if (at < text.Length && text[at] == '.')
        {
            var digits = 0;
            while (at + 1 + digits < text.Length && char.IsAsciiDigit(text[at + 1 + digits]))
            {
                digits++;
            }
            if (digits is < 1 or > 9)
            {
                return false;
            }
            fractionLength = 1 + digits;
            at += fractionLength;
        }
        var rest = text[at..];
        if (rest is "Z")
        {
            offsetLength = 1;
            return true;
        }
        if (rest.Length == OffsetDigitsLength && rest[0] is '+' or '-' && char.IsAsciiDigit(rest[1]) && char.IsAsciiDigit(rest[2])
            && rest[3] == ':' && char.IsAsciiDigit(rest[4]) && char.IsAsciiDigit(rest[5]))
        {
            offsetLength = OffsetDigitsLength;
            return true;
        }
        return rest.IsEmpty;
    }

    /// <summary>Formats as Python's <c>isoformat()</c> of a naive UTC datetime: <c>yyyy-MM-ddTHH:mm:ss.ffffff</c>.</summary>
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture);

    /// <summary>The fractional digits a DateTime keeps (100 ns); more are read and dropped.</summary>
    private const int MaxFractionDigits = 7;

    private static string[] BuildFormats()
    {
        const string date = "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        return [date, .. from digits in Enumerable.Range(1, MaxFractionDigits) select date + "'.'" + new string('f', digits)];
    }
}
