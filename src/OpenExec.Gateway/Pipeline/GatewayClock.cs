using System.Security.Cryptography;

namespace OpenExec.Gateway.Pipeline;

/// <summary>The one place the gateway reads time and makes ids, so tests can control both.</summary>
internal sealed class GatewayClock(TimeProvider time)
{
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>A new attempt id: time-ordered, unguessable (UUIDv7, 74 random bits).</summary>
    public static string NewExecId() => "ex_" + Guid.CreateVersion7().ToString("N");

    public static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));
}
