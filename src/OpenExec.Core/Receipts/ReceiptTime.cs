using System.Globalization;

namespace OpenExec.Core.Receipts;

/// <summary>Receipt timestamps: ISO-8601 UTC with microseconds and <c>Z</c>, e.g. <c>2026-11-25T20:19:26.123456Z</c>.</summary>
public static class ReceiptTime
{
    /// <summary>Characters (and UTF-8 bytes: all ASCII) in a timestamp.</summary>
    public const int Length = 27;

    private const string Pattern = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'";

    public static string Format(DateTimeOffset value) => value.UtcDateTime.ToString(Pattern, CultureInfo.InvariantCulture);

    /// <summary>
    /// <see cref="Format"/> written as UTF-8 into <paramref name="destination"/> (<see cref="Length"/>
    /// bytes), no string in between: a receipt's times are written this way into its JCS form and
    /// its stored document.
    /// </summary>
    public static void WriteUtf8(DateTimeOffset value, Span<byte> destination)
    {
        _ = destination[Length - 1];
        var utc = value.UtcDateTime;
        Digits(destination[..4], utc.Year);
        destination[4] = (byte)'-';
        Digits(destination.Slice(5, 2), utc.Month);
        destination[7] = (byte)'-';
        Digits(destination.Slice(8, 2), utc.Day);
        destination[10] = (byte)'T';
        Digits(destination.Slice(11, 2), utc.Hour);
        destination[13] = (byte)':';
        Digits(destination.Slice(14, 2), utc.Minute);
        destination[16] = (byte)':';
        Digits(destination.Slice(17, 2), utc.Second);
        destination[19] = (byte)'.';
        // Microseconds, truncated as the "ffffff" pattern truncates.
        Digits(destination.Slice(20, 6), (int)(utc.Ticks % TimeSpan.TicksPerSecond / 10));
        destination[26] = (byte)'Z';
    }

    private static void Digits(Span<byte> destination, int value)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}
