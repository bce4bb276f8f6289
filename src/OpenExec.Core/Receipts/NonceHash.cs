using System.Buffers;
using System.Text;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// The nonce as a receipt records it: SHA-256 of <c>tenant + "\n" + nonce</c>. Never the nonce in
/// clear; the tenant prefix keeps equal nonces of different tenants apart.
/// </summary>
public static class NonceHash
{
    /// <summary>The hash in hex, as receipts carry it.</summary>
    public static string Compute(string tenant, string nonce) => Of(tenant, nonce).ToString();

    /// <summary>The hash as a value (no string per request).</summary>
    public static Sha256Digest Of(string tenant, string nonce)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        ArgumentNullException.ThrowIfNull(nonce);
        // Encoded part by part into one buffer (no joined string, no byte array per request); the
        // "\n" between them means no surrogate pair can span the two, so the bytes are those of
        // the joined string.
        var length = Encoding.UTF8.GetByteCount(tenant) + 1 + Encoding.UTF8.GetByteCount(nonce);
        byte[]? rented = null;
        var buffer = length <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            var written = Encoding.UTF8.GetBytes(tenant, buffer);
            buffer[written++] = (byte)'\n';
            written += Encoding.UTF8.GetBytes(nonce, buffer[written..]);
            return Sha256Digest.Of(buffer[..written]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}
