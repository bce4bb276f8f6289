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
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(bodies);
        if (bodies.Count == 0)
        {
            return [];
        }

        var hashes = new string[bodies.Count];
        var leaves = new byte[bodies.Count][];
        for (var i = 0; i < bodies.Count; i++)
        {
            hashes[i] = ReceiptHash.Compute(bodies[i]);
            leaves[i] = Convert.FromHexString(hashes[i]);
        }

        var levels = MerkleTree.Levels(leaves);
        var signature = Base64Url.Encode(key.Sign(levels[^1][0]));

        var documents = new ReceiptDocument[bodies.Count];
        for (var i = 0; i < bodies.Count; i++)
        {
            var path = MerkleTree.PathFrom(levels, i).Select(node => Hex.Encode(node)).ToArray();
            documents[i] = new ReceiptDocument(bodies[i], hashes[i], new ReceiptBatch(bodies.Count, i, path), key.Kid, signature);
        }
        return documents;
    }
}
