using System.Globalization;

namespace OpenExec.Core.Receipts;

/// <summary>Receipt timestamps: ISO-8601 UTC with microseconds and <c>Z</c>, e.g. <c>2026-11-25T20:19:26.123456Z</c>.</summary>
public static class ReceiptTime
{
    public static string Format(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'", CultureInfo.InvariantCulture);
}
