using OpenExec.Core.Buffers;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Approvals;

/// <summary>
/// The action hash an approval names (SPEC section 4): lowercase hex SHA-256 of the ClawShield
/// canonical JSON of <c>{"action": action, "payload": payload}</c>.
/// </summary>
public static class ActionHash
{
    public static string Compute(string action, StrictValue payload)
    {
        ArgumentNullException.ThrowIfNull(action);
        ArgumentNullException.ThrowIfNull(payload);
        var request = new StrictObject(
        [
            new("action", new StrictString(action)),
            new("payload", payload),
        ]);
        // Only hashed, never kept: written into a pooled buffer, not a new array per request.
        using var canonical = new PooledBufferWriter(512);
        ClawShieldJson.Write(request, canonical);
        return Hex.Sha256(canonical.WrittenSpan);
    }
}
