namespace OpenExec.Core.Receipts;

/// <summary>
/// One batch's whole Merkle tree (RFC 9162 section 2.1) in a single buffer: every level, leaf
/// hashes first, root last. An unpaired last node moves up a level unchanged, which builds exactly
/// RFC 9162's tree (split at the largest power of two below n) in one pass, so a whole batch's
/// paths cost O(n log n), not O(n²). Each receipt's inclusion path is read from it, not copied
/// out: a batch allocates one buffer for all its nodes, not an array per node and per path.
/// </summary>
internal sealed class BatchTree
{
    private const int Size = MerkleTree.HashSize;

    private readonly byte[] _nodes;

    /// <summary>Per level, the index in <see cref="_nodes"/> (in hashes) of its first node.</summary>
    private readonly int[] _levelStart;

    /// <summary>Per level, its number of nodes.</summary>
    private readonly int[] _levelCount;

    private BatchTree(int leafCount)
    {
        var levels = 1;
        var total = leafCount;
        for (var count = leafCount; count > 1; count = (count + 1) / 2)
        {
            levels++;
            total += (count + 1) / 2;
        }
        _levelStart = new int[levels];
        _levelCount = new int[levels];
        for (int level = 0, start = 0, count = leafCount; level < levels; level++, start += count, count = (count + 1) / 2)
        {
            _levelStart[level] = start;
            _levelCount[level] = count;
        }
        _nodes = new byte[total * Size];
    }

    /// <summary>The tree whose leaves are <paramref name="leaves"/> (at least one).</summary>
    public static BatchTree Over(IReadOnlyList<byte[]> leaves)
    {
        ArgumentOutOfRangeException.ThrowIfZero(leaves.Count);
        var tree = new BatchTree(leaves.Count);
        for (var i = 0; i < leaves.Count; i++)
        {
            MerkleTree.LeafHash(leaves[i], tree.Writable(0, i));
        }
        tree.BuildUp();
        return tree;
    }

    /// <summary>The tree whose leaves are the bytes these hex strings spell (receipt hashes; at least one).</summary>
    public static BatchTree OverHex(IReadOnlyList<string> hexLeaves)
    {
        ArgumentOutOfRangeException.ThrowIfZero(hexLeaves.Count);
        var tree = new BatchTree(hexLeaves.Count);
        Span<byte> leaf = stackalloc byte[Size];
        for (var i = 0; i < hexLeaves.Count; i++)
        {
            var hex = hexLeaves[i];
            if (hex.Length == 2 * Size && Convert.FromHexString(hex, leaf, out _, out var written) == System.Buffers.OperationStatus.Done && written == Size)
            {
                MerkleTree.LeafHash(leaf, tree.Writable(0, i));
            }
            else
            {
                // Not a 32-byte hash: decoded as any leaf (or refused as hex) the long way.
                MerkleTree.LeafHash(Convert.FromHexString(hex), tree.Writable(0, i));
            }
        }
        tree.BuildUp();
        return tree;
    }

    /// <summary>MTH of the leaves.</summary>
    public ReadOnlySpan<byte> Root => Node(_levelCount.Length - 1, 0);

    /// <summary>How many hashes leaf <paramref name="index"/>'s inclusion path has.</summary>
    public int PathLength(int index)
    {
        var length = 0;
        for (var level = 0; level < _levelCount.Length - 1; level++, index >>= 1)
        {
            if ((index ^ 1) < _levelCount[level])
            {
                length++;
            }
        }
        return length;
    }

    /// <summary>Hash <paramref name="k"/> of leaf <paramref name="index"/>'s inclusion path (PATH(m, D[n]), RFC 9162 2.1.3.1: siblings from the leaf up).</summary>
    public ReadOnlySpan<byte> PathNode(int index, int k)
    {
        for (var level = 0; level < _levelCount.Length - 1; level++, index >>= 1)
        {
            if ((index ^ 1) < _levelCount[level] && k-- == 0)
            {
                return Node(level, index ^ 1);
            }
        }
        throw new ArgumentOutOfRangeException(nameof(k));
    }

    private ReadOnlySpan<byte> Node(int level, int i) => Writable(level, i);

    private Span<byte> Writable(int level, int i) => _nodes.AsSpan((_levelStart[level] + i) * Size, Size);

    private void BuildUp()
    {
        for (var level = 0; level < _levelCount.Length - 1; level++)
        {
            var count = _levelCount[level];
            for (var i = 0; i < _levelCount[level + 1]; i++)
            {
                var left = 2 * i;
                if (left + 1 < count)
                {
                    MerkleTree.NodeHash(Node(level, left), Node(level, left + 1), Writable(level + 1, i));
                }
                else
                {
                    Node(level, left).CopyTo(Writable(level + 1, i));
                }
            }
        }
    }
}
