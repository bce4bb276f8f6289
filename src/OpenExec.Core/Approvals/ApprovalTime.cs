using System.Globalization;
using System.Text.RegularExpressions;

namespace OpenExec.Core.Approvals;

/// <summary>
/// Approval timestamps: ISO-8601 date and time as Python's <c>datetime.isoformat()</c> writes them
/// (<c>2026-11-24T18:05:00.123456</c>), optionally with <c>Z</c> or <c>±HH:MM</c>; without an
/// offset they mean UTC. Exact formats only, never DateTime.Parse's guessing.
/// </summary>
public static partial class ApprovalTime
{
    private static readonly string[] Formats = BuildFormats();

    public static bool TryParse(string? text, out DateTimeOffset value)
    {
        value = default;
        // The shape first: TryParseExact's "zzz" would also take "+2:00" and "+0200".
        if (string.IsNullOrEmpty(text) || !Shape().IsMatch(text))
        {
            return false;
        }
        return DateTimeOffset.TryParseExact(
            text,
            Formats,
            CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out value);
    }

    /// <summary>Formats as Python's <c>isoformat()</c> of a naive UTC datetime: <c>yyyy-MM-ddTHH:mm:ss.ffffff</c>.</summary>
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff", CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?(Z|[+-][0-9]{2}:[0-9]{2})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();

    private static string[] BuildFormats()
    {
        const string date = "yyyy'-'MM'-'dd'T'HH':'mm':'ss";
        var fractions = new[] { "", "'.'f", "'.'ff", "'.'fff", "'.'ffff", "'.'fffff", "'.'ffffff", "'.'fffffff" };
        var offsets = new[] { "", "'Z'", "zzz" };
        return [.. from f in fractions from o in offsets select date + f + o];
    }
}
