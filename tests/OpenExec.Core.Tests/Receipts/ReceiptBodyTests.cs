using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public sealed class ReceiptBodyTests
{
    private static readonly string[] SpecKeys =
    [
        "v", "exec_id", "gateway", "seq", "prev", "tenant", "action", "mode", "nonce_sha256", "request_sha256",
        "approval_sha256", "approval_id", "decision", "code", "result_sha256", "result_form", "upstream_status",
        "started_at", "finished_at", "trace_id",
    ];

    [Fact]
    public void EveryKeyIsPresentAndNullsAreWritten()
    {
        var value = ReceiptFixtures.Body().ToStrictValue();

        Assert.Equal(SpecKeys, value.Properties.Select(p => p.Key));
        Assert.True(value.TryGet("approval_sha256", out var approval));
        Assert.Same(StrictLiteral.Null, approval);
        Assert.True(value.TryGet("v", out var v));
        Assert.Equal("1", Assert.IsType<StrictNumber>(v).Literal);
    }

    [Fact]
    public void WriteJcsIsTheJcsFormOfTheStrictValue()
    {
        // Field by field must equal the RFC 8785 writer over the JSON tree, for any field values:
        // every optional field null or set, escapes, non-ASCII, integers past 2^53 and negative.
        var random = new Random(8785);
        string Text()
        {
            var chars = new char[random.Next(0, 12)];
            for (var i = 0; i < chars.Length; i++)
            {
                chars[i] = random.Next(6) switch
                {
                    0 => (char)random.Next(0, 0x20),
                    1 => "\"\\/<>&'"[random.Next(7)],
                    2 => (char)random.Next(0x80, 0xD800),
                    3 => (char)random.Next(0xE000, 0x10000),
                    _ => (char)random.Next(0x20, 0x7F),
                };
            }
            return new string(chars);
        }
        string? Maybe() => random.Next(3) == 0 ? null : Text();
        long[] integers = [0, 1, -1, 9007199254740991, 9007199254740993, -9007199254740993, long.MaxValue, long.MinValue, 295147905179352830];

        for (var n = 0; n < 500; n++)
        {
            var body = new ReceiptBody
            {
                V = random.Next(3) == 0 ? random.Next(int.MinValue, int.MaxValue) : 1,
                ExecId = Text(),
                Gateway = Text(),
                Seq = random.Next(2) == 0 ? integers[random.Next(integers.Length)] : random.NextInt64(),
                Prev = Text(),
                Tenant = Text(),
                Action = Text(),
                Mode = Text(),
                NonceSha256 = Text(),
                RequestSha256 = Text(),
                ApprovalSha256 = Maybe(),
                ApprovalId = Maybe(),
                Decision = Text(),
                Code = Maybe(),
                ResultSha256 = Maybe(),
                ResultForm = Maybe(),
                UpstreamStatus = random.Next(3) == 0 ? null : random.Next(int.MinValue, int.MaxValue),
                StartedAt = Text(),
                FinishedAt = Text(),
                TraceId = Maybe(),
            };
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();

            body.WriteJcs(buffer);

            Assert.Equal(Jcs.Serialize(body.ToStrictValue()), buffer.WrittenSpan.ToArray());
        }
    }

    [Fact]
    public void WriteJcsRefusesALoneSurrogateAsTheJcsWriterDoes()
    {
        var body = ReceiptFixtures.Body() with { Code = "\uD800" };

        Assert.Throws<ArgumentException>(() => Jcs.Serialize(body.ToStrictValue()));
        Assert.Throws<ArgumentException>(() => body.WriteJcs(new System.Buffers.ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void RoundTripsThroughStrictValue()
    {
        var body = ReceiptFixtures.Body(seq: 42) with
        {
            ApprovalSha256 = new string('b', 64),
            ApprovalId = "approval-1",
            Code = "x",
            ResultSha256 = new string('c', 64),
            ResultForm = "canonical",
            UpstreamStatus = 200,
            TraceId = "0af7651916cd43dd8448eb211c80319c",
        };

        Assert.Equal(body, ReceiptBody.FromStrictValue(body.ToStrictValue()));
        Assert.Equal(ReceiptFixtures.Body(), ReceiptBody.FromStrictValue(ReceiptFixtures.Body().ToStrictValue()));
    }

    private static StrictObject Replace(string key, StrictValue? value)
    {
        var properties = ReceiptFixtures.Body().ToStrictValue().Properties.ToList();
        var i = properties.FindIndex(p => p.Key == key);
        if (value is null)
        {
            properties.RemoveAt(i);
        }
        else if (i < 0)
        {
            properties.Add(new(key, value));
        }
        else
        {
            properties[i] = new(key, value);
        }
        return new StrictObject(properties);
    }

    [Theory]
    [InlineData("trace_id")]
    [InlineData("exec_id")]
    [InlineData("upstream_status")]
    public void RefusesMissingKey(string key)
    {
        var e = Assert.Throws<ReceiptFormatException>(() => ReceiptBody.FromStrictValue(Replace(key, null)));
        Assert.Contains(key, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RefusesUnknownKey()
    {
        var e = Assert.Throws<ReceiptFormatException>(() => ReceiptBody.FromStrictValue(Replace("extra", StrictLiteral.Null)));
        Assert.Contains("extra", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, StrictValue> WrongTypes() => new()
    {
        { "v", new StrictNumber("2") },
        { "v", new StrictString("1") },
        { "seq", new StrictNumber("1.0") },
        { "seq", new StrictString("1") },
        { "seq", new StrictNumber("9007199254740992") },
        { "exec_id", StrictLiteral.Null },
        { "code", new StrictNumber("1") },
        { "upstream_status", new StrictString("200") },
        { "decision", StrictLiteral.True },
    };

    [Theory]
    [MemberData(nameof(WrongTypes))]
    public void RefusesWrongType(string key, StrictValue value)
    {
        var e = Assert.Throws<ReceiptFormatException>(() => ReceiptBody.FromStrictValue(Replace(key, value)));
        Assert.Contains(key == "v" ? "v" : $"'{key}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NonceHashIsTenantNewlineNonce()
    {
        Assert.Equal("4320dc19cdcec8c9febcdaf557d92d9183e8cd6d7eefcdbb5d1151880121f2a1", NonceHash.Compute("tenant-001", "unique-1"));
        Assert.NotEqual(NonceHash.Compute("tenant-001", "unique-1"), NonceHash.Compute("tenant-002", "unique-1"));
    }

    [Theory]
    [InlineData("tenant-001", "")]
    [InlineData("t\u00e9nant", "n\u00f6nce-\u4e2d\u6587-\ud83d\ude00")]
    [InlineData("tenant\ud83d", "\ude00nonce")] // lone surrogates on either side of the newline
    [InlineData("", "x")]
    public void NonceHashIsTheSha256OfTheJoinedStringsUtf8(string tenant, string nonce)
    {
        foreach (var repeat in new[] { 1, 40, 400 })
        {
            // Short and long (past any buffer kept on the stack) alike.
            var longNonce = string.Concat(Enumerable.Repeat(nonce, repeat));
            var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(tenant + "\n" + longNonce)));
            Assert.Equal(expected, NonceHash.Compute(tenant, longNonce));
        }
    }

    [Fact]
    public void ReceiptTimeIsUtcMicrosecondsWithZ()
    {
        var at = new DateTimeOffset(2026, 11, 25, 22, 19, 26, TimeSpan.FromHours(2)).AddTicks(1_234_567);

        Assert.Equal("2026-11-25T20:19:26.123456Z", ReceiptTime.Format(at));
    }

    [Fact]
    public void ResultBytesHash()
    {
        Assert.Equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", ResultHash.Bytes("hello"u8));
    }

    // Depends on ClawShieldJson.Serialize; expected from Python json.dumps(sort_keys, compact).
    [Fact]
    public void ResultCanonicalHash()
    {
        var result = new StrictObject([new("echo", new StrictObject([new("msg", new StrictString("hello world"))]))]);

        Assert.Equal("dc4054dd367acb589caf9eb420f9fc4a368aa0e6e8e7f68678dafb33871357b5", ResultHash.Canonical(result));
    }

    // Depends on Jcs.Serialize; expected from Python (ASCII body: JCS = sorted compact JSON).
    [Fact]
    public void ReceiptHashIsSha256OfJcs()
    {
        Assert.Equal("515df11b98dc6dc13e2ab1db070a9c9df25c0922c77dffce8efa41934d9a128b", ReceiptHash.Compute(ReceiptFixtures.Body()));
    }
}
