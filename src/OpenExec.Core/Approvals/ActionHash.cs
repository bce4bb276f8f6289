using System.Buffers;
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
        // The canonical form of {"action": action, "payload": payload}, written member by member
        // ("action" sorts before "payload"): no object built per request only to be hashed; only
        // hashed, never kept, so written into the thread's scratch buffer.
        var canonical = HashScratch.Rent();
        try
        {
            canonical.Write("{\"action\":"u8);
            ClawShieldJson.WriteString(action, canonical);
            canonical.Write(",\"payload\":"u8);
            ClawShieldJson.Write(payload, canonical);
            canonical.Write("}"u8);
            return Hex.Sha256(canonical.WrittenSpan);
        }
        finally
        {
            HashScratch.Return(canonical);
        }
    }
}
