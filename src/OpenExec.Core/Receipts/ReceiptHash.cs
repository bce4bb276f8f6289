using OpenExec.Core.Buffers;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>A receipt's hash: lowercase hex SHA-256 of the RFC 8785 (JCS) form of its body.</summary>
public static class ReceiptHash
{
    public static string Compute(ReceiptBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var canonical = HashScratch.Rent();
        try
        {
            body.WriteJcs(canonical);
            return Hex.Sha256(canonical.WrittenSpan);
        }
        finally
        {
            HashScratch.Return(canonical);
        }
    }
}
