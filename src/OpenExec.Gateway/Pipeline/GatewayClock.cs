using System.Security.Cryptography;

namespace OpenExec.Gateway.Pipeline;

/// <summary>The one place the gateway reads time and makes ids, so tests can control both.</summary>
internal sealed class GatewayClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>A monotonic timestamp (<see cref="TimeProvider.GetTimestamp"/>): a paused process still counts it.</summary>
    public long Timestamp() => time.GetTimestamp();

    /// <summary>The timestamp <paramref name="after"/> from <paramref name="from"/>.</summary>
    public long TimestampAfter(long from, TimeSpan after) => from + (long)(after.TotalSeconds * time.TimestampFrequency);

    /// <summary>A new attempt id: time-ordered, unguessable (UUIDv7, 74 random bits).</summary>
    public static string NewExecId() => string.Create(3 + 32, Guid.CreateVersion7(), static (chars, id) =>
    {
        "ex_".CopyTo(chars);
        id.TryFormat(chars[3..], out _, "N");
    });

    public static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
