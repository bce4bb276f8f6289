using System.Security.Cryptography;

namespace OpenExec.Core.Receipts;

/// <summary>
/// RFC 9162 section 2.1 Merkle trees over one signing batch. Leaves are the 32-byte receipt
/// hashes; leaf hash = SHA-256(0x00 ‖ leaf), node = SHA-256(0x01 ‖ left ‖ right).
/// </summary>
public static class MerkleTree
{
    public const int HashSize = SHA256.HashSizeInBytes;

    /// <summary>SHA-256(0x00 ‖ leaf).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> leaf)
    {
        var hash = new byte[HashSize];
        LeafHash(leaf, hash);
        return hash;
    }

    /// <summary>SHA-256(0x00 ‖ leaf) written to <paramref name="destination"/> (32 bytes).</summary>
    internal static void LeafHash(ReadOnlySpan<byte> leaf, Span<byte> destination)
    {
        if (leaf.Length <= HashSize)
        {
            // A receipt hash: one buffer on the stack, no hasher object.
            Span<byte> buffer = stackalloc byte[1 + HashSize];
            buffer[0] = 0x00;
            leaf.CopyTo(buffer[1..]);
            SHA256.HashData(buffer[..(1 + leaf.Length)], destination);
            return;
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([0x00]);
        hash.AppendData(leaf);
        hash.GetHashAndReset(destination);
    }

    /// <summary>SHA-256(0x01 ‖ left ‖ right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var hash = new byte[HashSize];
        NodeHash(left, right, hash);
        return hash;
    }

    /// <summary>SHA-256(0x01 ‖ left ‖ right) written to <paramref name="destination"/> (32 bytes).</summary>
    internal static void NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right, Span<byte> destination)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        SHA256.HashData(buffer, destination);
    }

    /// <summary>MTH(D[n]); the empty tree's root is SHA-256 of nothing (RFC 9162 2.1.1).</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        return leaves.Count == 0 ? SHA256.HashData(ReadOnlySpan<byte>.Empty) : BatchTree.Over(leaves).Root.ToArray();
    }

    /// <summary>PATH(m, D[n]) of RFC 9162 2.1.3.1: sibling hashes from the leaf up.</summary>
    public static IReadOnlyList<byte[]> InclusionPath(IReadOnlyList<byte[]> leaves, int index)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leaves.Count);
        var tree = BatchTree.Over(leaves);
        var path = new byte[tree.PathLength(index)][];
        for (var k = 0; k < path.Length; k++)
        {
            path[k] = tree.PathNode(index, k).ToArray();
        }
        return path;
    }

    /// <summary>
    /// RFC 9162 2.1.3.2: recomputes the root from a leaf (the 32-byte receipt hash), its index, the
    /// tree size and the path. False for index ≥ size, a path of the wrong length or a path entry
    /// that is not 32 bytes.
    /// </summary>
    public static bool TryComputeRoot(ReadOnlySpan<byte> leaf, long index, long size, IReadOnlyList<byte[]> path, out byte[] root)
    {
        ArgumentNullException.ThrowIfNull(path);
        root = [];
        if (index < 0 || index >= size)
        {
            return false;
        }
        var fn = index;
        var sn = size - 1;
        var r = LeafHash(leaf);
        foreach (var p in path)
        {
            if (p is null || p.Length != HashSize || sn == 0)
            {
                return false;
            }
            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    // fn is a right edge with no sibling at these levels: skip them.
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        if (sn != 0)
        {
            return false;
        }
        root = r;
        return true;
    }

    /// <summary>RFC 9162 2.1.3.2 inclusion verification against a known root.</summary>
    public static bool VerifyInclusion(byte[] leaf, int index, int size, IReadOnlyList<byte[]> path, byte[] root)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        ArgumentNullException.ThrowIfNull(root);
        return TryComputeRoot(leaf, index, size, path, out var computed)
            && CryptographicOperations.FixedTimeEquals(computed, root);
    }
}
