using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Receipts;

/// <summary>
/// A result as a receipt records it (SPEC section 6): the ClawShield canonical JSON of a parsed
/// result (<c>result_form: "canonical"</c>; JCS cannot carry big integers exactly), or the raw
/// response bytes of a proxied call (<c>"bytes"</c>).
/// </summary>
public static class ResultHash
{
    public const string CanonicalForm = "canonical";
    public const string BytesForm = "bytes";

    public static string Canonical(StrictValue result) => OfCanonical(result).ToString();

    public static string Bytes(ReadOnlySpan<byte> body) => OfBytes(body).ToString();

    /// <summary><see cref="Canonical"/> as a value.</summary>
    public static Sha256Digest OfCanonical(StrictValue result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return Sha256Digest.Of(ClawShieldJson.Serialize(result));
    }

    /// <summary><see cref="Bytes"/> as a value.</summary>
    public static Sha256Digest OfBytes(ReadOnlySpan<byte> body) => Sha256Digest.Of(body);
}
