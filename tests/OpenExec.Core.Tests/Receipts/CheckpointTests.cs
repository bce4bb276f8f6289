using OpenExec.Core.Crypto;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

// Depends on Jcs.Serialize.
public sealed class CheckpointTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 11, 25, 20, 19, 26, TimeSpan.Zero);
    private readonly ReceiptSigningKey _key = ReceiptSigningKey.Generate();
    private readonly ReceiptSigningKey _other = ReceiptSigningKey.Generate();

    public void Dispose()
    {
        _key.Dispose();
        _other.Dispose();
    }

    [Fact]
    public void SignedCheckpointVerifiesAndRoundTrips()
    {
        var checkpoint = Checkpoint.Sign(_key, "gw-a", 42, new string('a', 64), At);

        Assert.Equal("2026-11-25T20:19:26.000000Z", checkpoint.Timestamp);
        Assert.Equal(_key.Kid, checkpoint.Kid);
        Assert.True(checkpoint.Verify(ReceiptFixtures.Keys(_key)));
        Assert.Equal(checkpoint, Checkpoint.Parse(checkpoint.ToStrictValue()));
        Assert.StartsWith("{\"gateway\":\"gw-a\",\"seq\":42,", checkpoint.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void SignatureCoversJcsOfFourFields()
    {
        var checkpoint = Checkpoint.Sign(_key, "gw-a", 42, new string('a', 64), At);
        var jcs = "{\"gateway\":\"gw-a\",\"hash\":\"" + new string('a', 64) + "\",\"seq\":42,\"timestamp\":\"2026-11-25T20:19:26.000000Z\"}";

        Assert.True(NSec.Cryptography.SignatureAlgorithm.Ed25519.Verify(_key.PublicKey, System.Text.Encoding.UTF8.GetBytes(jcs), Base64Url.Decode(checkpoint.Signature)));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("9007199254740992")]
    [InlineData("9223372036854775807")]
    public void A_seq_outside_0_to_2_to_the_53_minus_1_is_not_a_checkpoint(string seq)
    {
        var json = Checkpoint.Sign(_key, "gw-a", 42, new string('a', 64), At).ToJson().Replace("\"seq\":42", $"\"seq\":{seq}", StringComparison.Ordinal);
        var error = Assert.Throws<ReceiptFormatException>(() => Checkpoint.Parse(OpenExec.Core.Json.StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(json))));
        Assert.Contains("seq must be an integer from 0 to 2^53 - 1", error.Message, StringComparison.Ordinal);
        Assert.Equal(9007199254740991, Checkpoint.Parse(OpenExec.Core.Json.StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(json.Replace($"\"seq\":{seq}", "\"seq\":9007199254740991", StringComparison.Ordinal)))).Seq);
    }

    [Fact]
    public void AnyChangedFieldOrUnknownKeyFails()
    {
        var checkpoint = Checkpoint.Sign(_key, "gw-a", 42, new string('a', 64), At);
        var keys = ReceiptFixtures.Keys(_key);

        Assert.False((checkpoint with { Seq = 41 }).Verify(keys));
        Assert.False((checkpoint with { Gateway = "gw-b" }).Verify(keys));
        Assert.False((checkpoint with { Hash = new string('b', 64) }).Verify(keys));
        Assert.False((checkpoint with { Timestamp = "2026-11-25T20:19:27.000000Z" }).Verify(keys));
        Assert.False((checkpoint with { Signature = "x" }).Verify(keys));
        Assert.False(checkpoint.Verify(ReceiptFixtures.Keys(_other)));

        // A member the signature does not cover is no part of a checkpoint.
        var extra = checkpoint.ToJson().Replace("{\"gateway\"", "{\"note\":\"x\",\"gateway\"", StringComparison.Ordinal);
        Assert.NotEqual(checkpoint.ToJson(), extra);
        Assert.Throws<ReceiptFormatException>(() => Checkpoint.Parse(OpenExec.Core.Json.StrictJson.Parse(System.Text.Encoding.UTF8.GetBytes(extra))));
    }
}
