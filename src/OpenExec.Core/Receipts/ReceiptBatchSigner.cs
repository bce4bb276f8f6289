using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// Signs one write batch as Certificate Transparency does: the receipt hashes are the leaves of
/// a Merkle tree, one signature covers its root, and each document carries its inclusion path.
/// </summary>
public static class ReceiptBatchSigner
{
    public static IReadOnlyList<ReceiptDocument> Sign(ReceiptSigningKey key, IReadOnlyList<ReceiptBody> bodies)
    {
        ArgumentNullException.ThrowIfNull(bodies);
        var hashes = new string[bodies.Count];
        for (var i = 0; i < bodies.Count; i++)
        {
            hashes[i] = ReceiptHash.Compute(bodies[i]);
        }
        return Sign(key, bodies, hashes);
    }

    /// <summary>
    /// Signs bodies whose hashes the caller already computed (a ledger chains each receipt to the
    /// previous one's hash, so it has them): <paramref name="hashes"/>[i] must be
    /// <see cref="ReceiptHash.Compute"/> of <paramref name="bodies"/>[i].
    /// </summary>
    public static IReadOnlyList<ReceiptDocument> Sign(ReceiptSigningKey key, IReadOnlyList<ReceiptBody> bodies, IReadOnlyList<string> hashes)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(bodies);
        ArgumentNullException.ThrowIfNull(hashes);
        if (hashes.Count != bodies.Count)
        {
            throw new ArgumentException("One hash per body", nameof(hashes));
        }
        if (bodies.Count == 0)
        {
            return [];
        }

        var tree = BatchTree.OverHex(hashes);
        var signature = Base64Url.Encode(key.Sign(tree.Root));

        var documents = new ReceiptDocument[bodies.Count];
        for (var i = 0; i < bodies.Count; i++)
        {
            var path = new HexPath(tree, i);
            documents[i] = new ReceiptDocument(bodies[i], hashes[i], new ReceiptBatch(bodies.Count, i, path), key.Kid, signature);
        }
        return documents;
    }
}
