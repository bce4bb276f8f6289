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
        if (leaf.Length <= HashSize)
        {
            // A receipt hash: one buffer on the stack, no hasher object.
            Span<byte> buffer = stackalloc byte[1 + HashSize];
            buffer[0] = 0x00;
            leaf.CopyTo(buffer[1..]);
            return SHA256.HashData(buffer[..(1 + leaf.Length)]);
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([0x00]);
        hash.AppendData(leaf);
        return hash.GetHashAndReset();
    }

    /// <summary>SHA-256(0x01 ‖ left ‖ right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>MTH(D[n]); the empty tree's root is SHA-256 of nothing (RFC 9162 2.1.1).</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        return leaves.Count == 0 ? SHA256.HashData(ReadOnlySpan<byte>.Empty) : Levels(leaves)[^1][0];
    }

    /// <summary>PATH(m, D[n]) of RFC 9162 2.1.3.1: sibling hashes from the leaf up.</summary>
    public static IReadOnlyList<byte[]> InclusionPath(IReadOnlyList<byte[]> leaves, int index)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leaves.Count);
        return PathFrom(Levels(leaves), index);
    }

    /// <summary>
    /// Every level of the tree, leaf hashes first, root last. An unpaired last node moves up a
    /// level unchanged, which builds exactly RFC 9162's tree (split at the largest power of two
    /// below n) in one pass, so a whole batch's paths cost O(n log n), not O(n²).
    /// </summary>
    internal static List<byte[][]> Levels(IReadOnlyList<byte[]> leaves)
    {
        var level = new byte[leaves.Count][];
        for (var i = 0; i < level.Length; i++)
        {
            level[i] = LeafHash(leaves[i]);
        }
        var levels = new List<byte[][]> { level };
        while (level.Length > 1)
        {
            var next = new byte[(level.Length + 1) / 2][];
            for (var i = 0; i < next.Length; i++)
            {
                var left = 2 * i;
                next[i] = left + 1 < level.Length ? NodeHash(level[left], level[left + 1]) : level[left];
            }
            levels.Add(next);
            level = next;
        }
        return levels;
    }

    internal static byte[][] PathFrom(List<byte[][]> levels, int index)
    {
        var length = 0;
        for (int depth = 0, i = index; depth < levels.Count - 1; depth++, i >>= 1)
        {
            if ((i ^ 1) < levels[depth].Length)
            {
                length++;
            }
        }
        var path = new byte[length][];
        var k = 0;
        for (var depth = 0; depth < levels.Count - 1; depth++, index >>= 1)
        {
            if ((index ^ 1) < levels[depth].Length)
            {
                path[k++] = levels[depth][index ^ 1];
            }
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
