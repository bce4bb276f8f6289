using System.Collections;
using System.Text.Json;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// An inclusion path as the signer computed it: leaf <c>index</c>'s path in its batch's tree,
/// each node hash read as its lowercase hex. The hex strings are made only when read; a document
/// written as JSON writes them straight from the tree's bytes (<see cref="WriteTo"/>), so signing a
/// batch makes no strings and no per-path copies.
/// </summary>
internal sealed class HexPath(BatchTree tree, int index) : IReadOnlyList<string>
{
    public int Count { get; } = tree.PathLength(index);

    public string this[int k] => (uint)k < (uint)Count ? Hex.Encode(tree.PathNode(index, k)) : throw new ArgumentOutOfRangeException(nameof(k));

    public IEnumerator<string> GetEnumerator()
    {
        for (var k = 0; k < Count; k++)
        {
            yield return this[k];
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Writes each node as a JSON string value of its lowercase hex.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        Span<byte> hex = stackalloc byte[2 * MerkleTree.HashSize];
        for (var k = 0; k < Count; k++)
        {
            Convert.TryToHexStringLower(tree.PathNode(index, k), hex, out var written);
            writer.WriteStringValue(hex[..written]);
        }
    }
}
