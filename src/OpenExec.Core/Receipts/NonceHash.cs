using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// The nonce as a receipt records it: SHA-256 of <c>tenant + "\n" + nonce</c>. Never the nonce in
/// clear; the tenant prefix keeps equal nonces of different tenants apart.
/// </summary>
public static class NonceHash
{
    public static string Compute(string tenant, string nonce)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(nonce);
        return Hex.Sha256Utf8(string.Concat(tenant, "\n", nonce));
    }
}
