using System.Text;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public sealed class ReceiptDocumentTests : IDisposable
{
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _other = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _other.Dispose();
    }

    private static ReceiptDocument Manual() => new(
        ReceiptFixtures.Body(),
        new string('a', 64),
        new ReceiptBatch(2, 1, [new string('b', 64)]),
        "0123456789abcdef",
        "c2ln");

    [Fact]
    public void SigningWithPrecomputedHashesGivesTheSameDocumentsAndRefusesAMismatch()
    {
        var bodies = Enumerable.Range(1, 5).Select(i => ReceiptFixtures.Body() with { Seq = i }).ToList();
        var hashes = bodies.Select(ReceiptHash.Compute).ToList();

        var computed = ReceiptBatchSigner.Sign(_key, bodies);
        var given = ReceiptBatchSigner.Sign(_key, bodies, hashes);

        Assert.Equal(computed.Select(d => d.ToJson()), given.Select(d => d.ToJson()));
        Assert.All(given, d => Assert.True(ReceiptVerifier.Verify(d, ReceiptFixtures.Keys(_key)).Valid));
        Assert.Throws<ArgumentException>(() => ReceiptBatchSigner.Sign(_key, bodies, hashes.Take(4).ToList()));
    }

    [Fact]
    public void AReusedJsonBufferWritesEachDocumentAsToJsonUtf8()
    {
        // Long then short then long: a reused buffer must not keep bytes of an earlier document.
        var documents = new[]
        {
            Manual() with { Body = ReceiptFixtures.Body() with { Code = new string('x', 9000), TraceId = "é\u2028\"<" } },
            Manual(),
            Manual() with { Batch = new ReceiptBatch(8, 3, [new string('c', 64), new string('d', 64), new string('e', 64)]) },
        };
        using var buffer = new ReceiptJsonBuffer();

        foreach (var document in documents)
        {
            Assert.Equal(document.ToJsonUtf8(), buffer.Write(document).ToArray());
        }
    }

    [Fact]
    public void ASignedDocumentsPathReadsAndWritesAsTheHexOfItsNodes()
    {
        var bodies = Enumerable.Range(1, 13).Select(i => ReceiptFixtures.Body() with { Seq = i }).ToList();
        var leaves = bodies.Select(b => Convert.FromHexString(ReceiptHash.Compute(b))).ToList();

        var documents = ReceiptBatchSigner.Sign(_key, bodies);

        for (var i = 0; i < documents.Count; i++)
        {
            var expected = MerkleTree.InclusionPath(leaves, i).Select(Convert.ToHexStringLower).ToList();
            Assert.Equal(expected, documents[i].Batch.Path);
            Assert.Equal(expected, Enumerable.Range(0, documents[i].Batch.Path.Count).Select(k => documents[i].Batch.Path[k]));
            // The JSON written from the node bytes is the JSON of the same document with string nodes.
            var reparsed = ReceiptDocument.Parse(StrictJson.Parse(documents[i].ToJsonUtf8()));
            Assert.Equal(expected, reparsed.Batch.Path);
            Assert.Equal(reparsed.ToJson(), documents[i].ToJson());
        }
    }

    [Fact]
    public void JsonHasSpecFieldOrder()
    {
        using var json = JsonDocument.Parse(Manual().ToJson());
        var root = json.RootElement;

        Assert.Equal(["body", "hash", "batch", "kid", "signature"], root.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["size", "index", "path"], root.GetProperty("batch").EnumerateObject().Select(p => p.Name));
        Assert.Equal(JsonValueKind.Null, root.GetProperty("body").GetProperty("approval_id").ValueKind);
        Assert.Equal(20, root.GetProperty("body").EnumerateObject().Count());
        Assert.Equal(1, root.GetProperty("body").GetProperty("seq").GetInt64());
    }

    [Fact]
    public void ParseRoundTripsStrictValue()
    {
        var document = Manual();

        var parsed = ReceiptDocument.Parse(document.ToStrictValue());

        Assert.Equal(document.Body, parsed.Body);
        Assert.Equal(document.Batch.Path, parsed.Batch.Path);
        Assert.Equal(document with { Batch = parsed.Batch }, parsed);
    }

    [Fact]
    public void ParseRefusesWrongShape()
    {
        var good = Manual().ToStrictValue().Properties;
        StrictObject Without(string key) => new([.. good.Where(p => p.Key != key)]);
        StrictObject With(string key, StrictValue value) => new([.. good.Select(p => p.Key == key ? new KeyValuePair<string, StrictValue>(key, value) : p)]);

        Assert.Contains("'kid'", Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(Without("kid"))).Message, StringComparison.Ordinal);
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(new StrictArray([])));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(new StrictObject([.. good, new("extra", StrictLiteral.Null)])));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(With("hash", new StrictNumber("1"))));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(With("batch", new StrictObject([new("size", new StrictNumber("1"))]))));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(With("batch", new StrictObject(
            [new("size", new StrictNumber("-1")), new("index", new StrictNumber("0")), new("path", new StrictArray([]))]))));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(With("batch", new StrictObject(
            [new("size", new StrictNumber("1")), new("index", new StrictNumber("0")), new("path", new StrictArray([new StrictNumber("1")]))]))));
        Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(With("body", StrictObject.Empty)));
    }

    // The tests below depend on Jcs.Serialize (receipt hashes).

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(16)]
    public void BatchSignsOnceAndEveryDocumentVerifiesAlone(int size)
    {
        var bodies = Enumerable.Range(1, size).Select(i => ReceiptFixtures.Body(seq: i, execId: $"exec-{i}")).ToList();

        var documents = ReceiptBatchSigner.Sign(_key, bodies);

        Assert.Equal(size, documents.Count);
        Assert.Single(documents.Select(d => d.Signature).Distinct());
        for (var i = 0; i < size; i++)
        {
            var d = documents[i];
            Assert.Equal(new ReceiptChecks(true, true, true, null, null), ReceiptVerifier.Verify(d, ReceiptFixtures.Keys(_key)));
            Assert.True(ReceiptVerifier.Verify(d, ReceiptFixtures.Keys(_key)).Valid);
            Assert.Equal(ReceiptHash.Compute(bodies[i]), d.Hash);
            Assert.Equal((size, i), (d.Batch.Size, d.Batch.Index));
            Assert.Equal(_key.Kid, d.Kid);
            Assert.All(d.Batch.Path, p => Assert.Matches("^[0-9a-f]{64}$", p));
        }
    }

    [Fact]
    public void BatchOfOneSignsTheLeafHash()
    {
        var document = Assert.Single(ReceiptBatchSigner.Sign(_key, [ReceiptFixtures.Body()]));

        Assert.Empty(document.Batch.Path);
        var root = MerkleTree.LeafHash(Convert.FromHexString(document.Hash));
        Assert.True(NSec.Cryptography.SignatureAlgorithm.Ed25519.Verify(_key.PublicKey, root, Base64Url.Decode(document.Signature)));
    }

    [Fact]
    public void DocumentSurvivesJsonRoundTrip()
    {
        var document = ReceiptBatchSigner.Sign(_key, [ReceiptFixtures.Body(), ReceiptFixtures.Body(seq: 2)])[1];

        // Depends on StrictJson.Parse too.
        var parsed = ReceiptDocument.Parse(StrictJson.Parse(Encoding.UTF8.GetBytes(document.ToJson())));

        Assert.True(ReceiptVerifier.Verify(parsed, ReceiptFixtures.Keys(_key)).Valid);
    }

    [Fact]
    public void TamperedBodyFailsHashOnly()
    {
        var document = ReceiptBatchSigner.Sign(_key, [ReceiptFixtures.Body(), ReceiptFixtures.Body(seq: 2)])[0];

        var checks = ReceiptVerifier.Verify(document with { Body = document.Body with { Decision = "rejected" } }, ReceiptFixtures.Keys(_key));

        Assert.Equal(new ReceiptChecks(false, true, true, null, null), checks);
        Assert.False(checks.Valid);
    }

    [Fact]
    public void BodyAndHashReplacedTogetherFailTheSignature()
    {
        var document = ReceiptBatchSigner.Sign(_key, [ReceiptFixtures.Body()])[0];
        var forged = document.Body with { Decision = "rejected" };

        var checks = ReceiptVerifier.Verify(document with { Body = forged, Hash = ReceiptHash.Compute(forged) }, ReceiptFixtures.Keys(_key));

        Assert.Equal(new ReceiptChecks(true, true, false, null, null), checks);
    }

    [Fact]
    public void DocumentSignedByAnotherKeyFailsSignature()
    {
        var document = ReceiptBatchSigner.Sign(_other, [ReceiptFixtures.Body()])[0];

        Assert.False(ReceiptVerifier.Verify(document, ReceiptFixtures.Keys(_key)).Signature);
        // Claiming the trusted kid does not help either.
        Assert.False(ReceiptVerifier.Verify(document with { Kid = _key.Kid }, ReceiptFixtures.Keys(_key, _other)).Signature);
        Assert.True(ReceiptVerifier.Verify(document, ReceiptFixtures.Keys(_key, _other)).Valid);
    }

    [Fact]
    public void KeyLookupThatReturnsAnotherKidsKeyFails()
    {
        var document = ReceiptBatchSigner.Sign(_other, [ReceiptFixtures.Body()])[0];

        Assert.False(ReceiptVerifier.Verify(document with { Kid = "0000000000000000" }, _ => _other.PublicKey).Signature);
    }

    [Fact]
    public void TamperedBatchFailsInclusionOrSignature()
    {
        var documents = ReceiptBatchSigner.Sign(_key, [.. Enumerable.Range(1, 5).Select(i => ReceiptFixtures.Body(seq: i))]);
        var d = documents[2];
        var keys = ReceiptFixtures.Keys(_key);
        var flipped = d.Batch.Path.ToList();
        flipped[0] = (flipped[0][0] == '0' ? "1" : "0") + flipped[0][1..];

        Assert.False(ReceiptVerifier.Verify(d with { Batch = d.Batch with { Index = 3 } }, keys).Valid);
        Assert.False(ReceiptVerifier.Verify(d with { Batch = d.Batch with { Index = 5 } }, keys).Inclusion);
        Assert.False(ReceiptVerifier.Verify(d with { Batch = d.Batch with { Size = 4 } }, keys).Valid);
        Assert.False(ReceiptVerifier.Verify(d with { Batch = d.Batch with { Path = flipped } }, keys).Signature);
        Assert.False(ReceiptVerifier.Verify(d with { Batch = d.Batch with { Path = [.. d.Batch.Path.Skip(1)] } }, keys).Inclusion);
    }

    public static TheoryData<string> MalformedFields() => ["hash-upper", "hash-short", "path-nonhex", "path-short", "sig-padded", "sig-std", "sig-short", "kid-unknown"];

    [Theory]
    [MemberData(nameof(MalformedFields))]
    public void MalformedFieldsMakeChecksFalseWithoutThrowing(string which)
    {
        var d = ReceiptBatchSigner.Sign(_key, [ReceiptFixtures.Body(), ReceiptFixtures.Body(seq: 2)])[0];
        var bad = which switch
        {
            "hash-upper" => d with { Hash = d.Hash.ToUpperInvariant() },
            "hash-short" => d with { Hash = d.Hash[..62] },
            "path-nonhex" => d with { Batch = d.Batch with { Path = ["zz" + d.Batch.Path[0][2..]] } },
            "path-short" => d with { Batch = d.Batch with { Path = [d.Batch.Path[0][..62]] } },
            "sig-padded" => d with { Signature = d.Signature + "==" },
            "sig-std" => d with { Signature = Convert.ToBase64String(Base64Url.Decode(d.Signature)) },
            "sig-short" => d with { Signature = d.Signature[..40] },
            _ => d with { Kid = "ffffffffffffffff" },
        };

        var checks = ReceiptVerifier.Verify(bad, ReceiptFixtures.Keys(_key));

        Assert.False(checks.Valid);
        Assert.True(checks.Hash == false || checks.Inclusion == false || checks.Signature == false);
    }
}
