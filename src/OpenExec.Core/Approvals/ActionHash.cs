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
    public static string Compute(string action, StrictValue payload) => Of(action, payload).ToString();

    /// <summary><see cref="Compute"/> as a value (no string per request).</summary>
    public static Sha256Digest Of(string action, StrictValue payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return Hash(action, payload, static (payload, output) => ClawShieldJson.Write(payload, output));
    }

    /// <summary>
    /// The action hash of a proxied request, whose payload is
    /// <see cref="ProxiedRequestPayload.Create"/>'s object, written member by member instead of
    /// built: the same bytes (its keys in canonical order: body, method, path, query) without the
    /// object, its array and three strings' values per request.
    /// </summary>
    public static string ComputeProxied(string action, string method, string rawPath, string rawQuery, StrictValue body)
        => OfProxied(action, method, rawPath, rawQuery, body).ToString();

    /// <summary><see cref="ComputeProxied"/> as a value (no string per request).</summary>
    public static Sha256Digest OfProxied(string action, string method, string rawPath, string rawQuery, StrictValue body)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(rawPath);
        ArgumentNullException.ThrowIfNull(rawQuery);
        ArgumentNullException.ThrowIfNull(body);
        return Hash(action, (Method: method.ToUpperInvariant(), rawPath, rawQuery, body), static (payload, output) =>
        {
            output.Write("{\"body\":"u8);
            ClawShieldJson.Write(payload.body, output);
            output.Write(",\"method\":"u8);
            ClawShieldJson.WriteString(payload.Method, output);
            output.Write(",\"path\":"u8);
            ClawShieldJson.WriteString(payload.rawPath, output);
            output.Write(",\"query\":"u8);
            ClawShieldJson.WriteString(payload.rawQuery, output);
            output.Write("}"u8);
        });
    }

    private static Sha256Digest Hash<TPayload>(string action, TPayload payload, Action<TPayload, IBufferWriter<byte>> writePayload)
    {
        ArgumentNullException.ThrowIfNull(action);
        // The canonical form of {"action": action, "payload": payload}, written member by member
        // ("action" sorts before "payload"): no object built per request only to be hashed; only
        // hashed, never kept, so written into the thread's scratch buffer.
        var canonical = HashScratch.Rent();
        try
        {
            canonical.Write("{\"action\":"u8);
            ClawShieldJson.WriteString(action, canonical);
            canonical.Write(",\"payload\":"u8);
            writePayload(payload, canonical);
            canonical.Write("}"u8);
            return Sha256Digest.Of(canonical.WrittenSpan);
        }
        finally
        {
            HashScratch.Return(canonical);
        }
    }
}
