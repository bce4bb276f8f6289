using System.Buffers;
using System.Text;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

/// <summary>
/// The gateway gives a draft's hashes and times as values (the internal constructor): the body
/// must read, hash, sign and serialize exactly as the same body given as strings, and write
/// those fields without a string each.
/// </summary>
public class ReceiptBodyValuesTests
{
    private static readonly DateTimeOffset Started = new DateTimeOffset(2026, 11, 29, 8, 30, 1, TimeSpan.FromHours(1)).AddTicks(1234567);

    private static readonly W3CTraceId Trace = W3CTraceId.ParseHex("0af7651916cd43dd8448eb211c80319c");

    private static ReceiptBody FromValues(Sha256Digest? result, W3CTraceId? trace = null)
        => new(new Attempt(Sha256Digest.Of("nonce"u8), Sha256Digest.Of("request"u8), Sha256Digest.Of("approval"u8), trace ?? Trace, Started), result, Started.AddMilliseconds(42.5))
    {
        ExecId = "ex_1",
        Gateway = "gw-a",
        Seq = 7,
        Prev = ReceiptBody.GenesisPrev,
        Tenant = "default",
        Action = "echo_backend",
        Mode = "clawshield",
        ApprovalId = "8d1f2c8e-0000-4000-8000-000000000001",
        Decision = "executed",
        ResultForm = result is null ? null : "bytes",
        UpstreamStatus = result is null ? null : 200,
    };

    // The same body, each value field given as its string (an init setter replaces the value).
    private static ReceiptBody FromStrings(Sha256Digest? result) => FromValues(null) with
    {
        NonceSha256 = Sha256Digest.Of("nonce"u8).ToString(),
        RequestSha256 = Sha256Digest.Of("request"u8).ToString(),
        ApprovalSha256 = Sha256Digest.Of("approval"u8).ToString(),
        ResultSha256 = result?.ToString(),
        ResultForm = result is null ? null : "bytes",
        UpstreamStatus = result is null ? null : 200,
        StartedAt = ReceiptTime.Format(Started),
        FinishedAt = ReceiptTime.Format(Started.AddMilliseconds(42.5)),
        TraceId = "0af7651916cd43dd8448eb211c80319c",
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_body_of_values_is_the_body_of_their_strings(bool withResult)
    {
        Sha256Digest? result = withResult ? Sha256Digest.Of("{\"ok\":true}"u8) : null;
        var values = FromValues(result);
        var strings = FromStrings(result);

        Assert.Equal(Jcs(strings), Jcs(values));
        Assert.Equal(ReceiptHash.Compute(strings), ReceiptHash.Compute(values));
        // Ed25519 signs deterministically: the same body, the same document, byte for byte.
        using var key = ReceiptSigningKey.Generate();
        var fromValues = ReceiptBatchSigner.Sign(key, [values])[0].ToJsonUtf8();
        Assert.Equal(Encoding.UTF8.GetString(ReceiptBatchSigner.Sign(key, [strings])[0].ToJsonUtf8()), Encoding.UTF8.GetString(fromValues));
        Assert.Equal(strings, ReceiptDocument.Parse(StrictJson.Parse(fromValues)).Body);

        Assert.Equal(strings, values);
        Assert.Equal(values, strings);
        Assert.Equal(strings.GetHashCode(), values.GetHashCode());
        Assert.Equal(strings.ToString(), values.ToString());
        Assert.Equal(strings.NonceSha256, values.NonceSha256);
        Assert.Equal(Sha256Digest.Of("approval"u8).ToString(), values.ApprovalSha256);
        Assert.Equal(strings.ResultSha256, values.ResultSha256);
        Assert.Equal(strings.FinishedAt, values.FinishedAt);
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", values.TraceId);
        Assert.NotEqual(strings, strings with { FinishedAt = ReceiptTime.Format(Started) });
        Assert.NotEqual(values, values with { FinishedAt = ReceiptTime.Format(Started) });
    }

    [Fact]
    public void A_string_given_later_replaces_the_value()
    {
        var values = FromValues(Sha256Digest.Of("x"u8));
        var replaced = values with { NonceSha256 = "not-hex", StartedAt = "then", ResultSha256 = null, TraceId = null, ApprovalSha256 = null };

        Assert.Equal("not-hex", replaced.NonceSha256);
        Assert.Equal("then", replaced.StartedAt);
        Assert.Null(replaced.ResultSha256);
        var jcs = Jcs(replaced);
        Assert.Contains("\"nonce_sha256\":\"not-hex\"", jcs);
        Assert.Contains("\"started_at\":\"then\"", jcs);
        Assert.Contains("\"result_sha256\":null", jcs);
        Assert.Contains("\"trace_id\":null", jcs);
        Assert.Contains("\"approval_sha256\":null", jcs);
        Assert.Null(replaced.ApprovalSha256);
        Assert.Equal(values.RequestSha256, replaced.RequestSha256);
    }

    [Fact]
    public void Hashing_a_body_of_values_formats_no_string()
    {
        var values = FromValues(Sha256Digest.Of("x"u8));
        var output = new ArrayBufferWriter<byte>(4096);
        values.WriteJcs(output);
        output.ResetWrittenCount();

        var before = GC.GetAllocatedBytesForCurrentThread();
        values.WriteJcs(output);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(Jcs(FromStrings(Sha256Digest.Of("x"u8))), Encoding.UTF8.GetString(output.WrittenSpan));
    }

    private static string Jcs(ReceiptBody body)
    {
        var output = new ArrayBufferWriter<byte>();
        body.WriteJcs(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Fact]
    public void An_attempt_without_a_trace_gives_no_trace_id()
    {
        var body = new ReceiptBody(new Attempt(Sha256Digest.Of("n"u8), Sha256Digest.Of("r"u8), null, null, Started), null, Started)
        {
            ExecId = "ex_2",
            Gateway = "",
            Seq = 0,
            Prev = "",
            Tenant = "default",
            Action = "echo",
            Mode = "demo",
            Decision = "rejected",
        };

        Assert.Null(body.TraceId);
        Assert.Contains("\"trace_id\":null", Jcs(body));
        Assert.Null(body.ApprovalSha256);
        Assert.Contains("\"approval_sha256\":null", Jcs(body));
        using var key = ReceiptSigningKey.Generate();
        Assert.Contains("\"approval_sha256\":null", Encoding.UTF8.GetString(ReceiptBatchSigner.Sign(key, [body])[0].ToJsonUtf8()));
        Assert.Equal(ReceiptTime.Format(Started), body.StartedAt);
        Assert.Equal(body.StartedAt, body.FinishedAt);
    }

    private sealed record Attempt(Sha256Digest Nonce, Sha256Digest Request, Sha256Digest? Approval, W3CTraceId? Trace, DateTimeOffset StartedAt) : IReceiptAttempt;
}
