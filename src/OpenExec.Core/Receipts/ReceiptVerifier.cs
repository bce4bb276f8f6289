using NSec.Cryptography;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// The outcome of each check (SPEC section 6): true, false, or null when not applicable (for a
/// lone document, <see cref="Result"/> and <see cref="Chain"/>).
/// </summary>
public sealed record ReceiptChecks(bool? Hash, bool? Inclusion, bool? Signature, bool? Result, bool? Chain)
{
    /// <summary>Hash, inclusion and signature hold, and no other check failed.</summary>
    public bool Valid => Hash == true && Inclusion == true && Signature == true && Result != false && Chain != false;
}

/// <summary>Verifies one receipt document alone, offline: hash, inclusion in its batch, signature over the batch root.</summary>
public static class ReceiptVerifier
{
    /// <param name="document">The document; malformed hex or base64url fields make checks false, never throw.</param>
    /// <param name="keys">Finds a receipt-signing public key by key id; null when unknown.</param>
    public static ReceiptChecks Verify(ReceiptDocument document, Func<string, PublicKey?> keys)
    {
        ArgumentNullException.ThrowIfNull(document);
        ArgumentNullException.ThrowIfNull(keys);

        var hash = string.Equals(ReceiptHash.Compute(document.Body), document.Hash, StringComparison.Ordinal);
        var inclusion = TryComputeRoot(document, out var root);
        // Without a root there is nothing the signature could be checked against.
        var signature = inclusion && VerifySignature(document.Kid, document.Signature, root, keys);
        return new ReceiptChecks(hash, inclusion, signature, null, null);
    }

    /// <summary>The batch root the document's path leads to, or false if the hash, index or path is malformed.</summary>
    internal static bool TryComputeRoot(ReceiptDocument document, out byte[] root)
    {
        root = [];
        if (!Hex.IsLowerHex(document.Hash, 64) || !Hex.TryDecodeLower(document.Hash, out var leaf))
        {
            return false;
        }
        var path = new byte[document.Batch.Path.Count][];
        for (var i = 0; i < path.Length; i++)
        {
            if (!Hex.IsLowerHex(document.Batch.Path[i], 64) || !Hex.TryDecodeLower(document.Batch.Path[i], out path[i]))
            {
                return false;
            }
        }
        return MerkleTree.TryComputeRoot(leaf, document.Batch.Index, document.Batch.Size, path, out root);
    }

    internal static bool VerifySignature(string kid, string signature, ReadOnlySpan<byte> message, Func<string, PublicKey?> keys)
    {
        var key = keys(kid);
        if (key is null || key.Algorithm != SignatureAlgorithm.Ed25519)
        {
            return false;
        }
        // A receipt key is one the gateway published under this kid; refuse a lookup that returns another.
        if (!string.Equals(KeyId.For(key), kid, StringComparison.Ordinal))
        {
            return false;
        }
        return Base64Url.TryDecode(signature, out var bytes)
            && bytes.Length == 64
            && SignatureAlgorithm.Ed25519.Verify(key, message, bytes);
    }
}
