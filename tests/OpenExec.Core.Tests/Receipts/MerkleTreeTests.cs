using System.Security.Cryptography;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public sealed class MerkleTreeTests
{
    // An independent, literal transcription of RFC 9162 2.1.1 and 2.1.3.1.
    private static byte[] NaiveLeaf(byte[] d) => SHA256.HashData([0x00, .. d]);

    private static byte[] NaiveNode(byte[] l, byte[] r) => SHA256.HashData([0x01, .. l, .. r]);

    private static int LargestPowerOfTwoBelow(int n)
    {
        var k = 1;
        while (k * 2 < n)
        {
            k *= 2;
        }
        return k;
    }

    private static byte[] NaiveMth(byte[][] d)
    {
        if (d.Length == 1)
        {
            return NaiveLeaf(d[0]);
        }
        var k = LargestPowerOfTwoBelow(d.Length);
        return NaiveNode(NaiveMth(d[..k]), NaiveMth(d[k..]));
    }

    private static List<byte[]> NaivePath(int m, byte[][] d)
    {
        if (d.Length == 1)
        {
            return [];
        }
        var k = LargestPowerOfTwoBelow(d.Length);
        return m < k
            ? [.. NaivePath(m, d[..k]), NaiveMth(d[k..])]
            : [.. NaivePath(m - k, d[k..]), NaiveMth(d[..k])];
    }

    private static byte[][] Leaves(int n) => [.. Enumerable.Range(0, n).Select(i => SHA256.HashData(BitConverter.GetBytes(i)))];

    public static TheoryData<int> Sizes() => [.. Enumerable.Range(1, 20)];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void RootAndEveryPathMatchRfc9162(int size)
    {
        var leaves = Leaves(size);
        var root = MerkleTree.Root(leaves);

        Assert.Equal(NaiveMth(leaves), root);
        for (var index = 0; index < size; index++)
        {
            var path = MerkleTree.InclusionPath(leaves, index);
            Assert.Equal(NaivePath(index, leaves), path);
            Assert.True(MerkleTree.VerifyInclusion(leaves[index], index, size, path, root), $"size {size} index {index}");
        }
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void TamperedProofsFail(int size)
    {
        var leaves = Leaves(size);
        var root = MerkleTree.Root(leaves);
        for (var index = 0; index < size; index++)
        {
            var path = MerkleTree.InclusionPath(leaves, index);

            Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, path, NaiveLeaf(root)));
            Assert.False(MerkleTree.VerifyInclusion(leaves[index], size, size, path, root));
            Assert.False(MerkleTree.VerifyInclusion(leaves[index], -1, size, path, root));
            Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, [.. path, root], root));
            if (size > 1)
            {
                Assert.False(MerkleTree.VerifyInclusion(leaves[(index + 1) % size], index, size, path, root));
                Assert.False(MerkleTree.VerifyInclusion(leaves[index], (index + 1) % size, size, path, root));
                Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, path.Take(path.Count - 1).ToList(), root));
                for (var i = 0; i < path.Count; i++)
                {
                    var tampered = path.Select(p => (byte[])p.Clone()).ToList();
                    tampered[i][7] ^= 0x01;
                    Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, tampered, root));
                }
                var shortNode = path.ToList();
                shortNode[0] = shortNode[0][..31];
                Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, shortNode, root));
                // The true sibling with a byte after it is not that sibling, nor is one twice its length.
                var longNode = path.ToList();
                longNode[0] = [.. path[0], 0x00];
                Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, longNode, root));
                longNode[0] = [.. path[0], .. path[0], 0x00];
                Assert.False(MerkleTree.VerifyInclusion(leaves[index], index, size, longNode, root));
            }
        }
    }

    [Fact]
    public void SizeMattersEvenWhenPathLengthFits()
    {
        // Sizes 5..8 give leaf 0 a path of three nodes; only the true size verifies.
        var leaves = Leaves(6);
        var root = MerkleTree.Root(leaves);
        var path = MerkleTree.InclusionPath(leaves, 4);

        Assert.True(MerkleTree.VerifyInclusion(leaves[4], 4, 6, path, root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[4], 4, 5, path, root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[4], 4, 8, path, root));
    }

    [Fact]
    public void BatchOfOneHasEmptyPathAndLeafHashRoot()
    {
        var leaf = SHA256.HashData("receipt"u8);

        Assert.Empty(MerkleTree.InclusionPath([leaf], 0));
        Assert.Equal(SHA256.HashData([0x00, .. leaf]), MerkleTree.Root([leaf]));
        Assert.True(MerkleTree.VerifyInclusion(leaf, 0, 1, [], SHA256.HashData([0x00, .. leaf])));
        Assert.False(MerkleTree.VerifyInclusion(leaf, 0, 1, [], leaf));
    }
}
