using System.Collections;
using System.Text.Json;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// An inclusion path as the signer computed it: the tree's node hashes, each read as its
/// lowercase hex. The hex strings are made only when read; a document written as JSON writes
/// them straight from the bytes (<see cref="WriteTo"/>), so signing a batch makes no strings.
/// </summary>
internal sealed class HexPath(byte[][] nodes) : IReadOnlyList<string>
{
    public int Count => nodes.Length;

    public string this[int index] => Hex.Encode(nodes[index]);

    public IEnumerator<string> GetEnumerator()
    {
        foreach (var node in nodes)
        {
            yield return Hex.Encode(node);
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Writes each node as a JSON string value of its lowercase hex.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        Span<byte> hex = stackalloc byte[2 * MerkleTree.HashSize];
        foreach (var node in nodes)
        {
            Convert.TryToHexStringLower(node, hex, out var written);
            writer.WriteStringValue(hex[..written]);
        }
    }
}
