using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using OpenExec.Core.Crypto;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Proxy;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>The answer's stand-in body on its own: what it holds while an answer streams.</summary>
public sealed class ReceiptedResponseBodyTests
{
    private const int Limit = 256 * 1024;

    [Fact]
    public async Task An_answer_that_switched_to_streaming_holds_no_pooled_buffer_while_it_streams()
    {
        // A streaming answer can run for hours (a download, an event stream); the buffer that held
        // its first bytes, up to OpenExec:MaxBufferedResponse, stayed rented until the call ended.
        var agent = new MemoryStream();
        var context = new DefaultHttpContext();
        var body = NewBody(context, agent);

        var first = RandomNumberGenerator.GetBytes(Limit - 10);
        await body.WriteAsync(first);
        Assert.True(body.HeldCapacity >= first.Length);
        Assert.False(body.Streaming);

        var second = RandomNumberGenerator.GetBytes(100);
        await body.WriteAsync(second);

        Assert.True(body.Streaming);
        Assert.Equal(0, body.HeldCapacity);
        byte[] all = [.. first, .. second];
        Assert.Equal(all, agent.ToArray());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(all)), body.Sha256().ToString());
    }

    [Fact]
    public async Task An_event_stream_flushed_before_its_first_byte_holds_no_pooled_buffer()
    {
        var agent = new MemoryStream();
        var context = new DefaultHttpContext();
        context.Response.ContentType = "text/event-stream";
        var body = NewBody(context, agent);

        await body.FlushAsync();
        await body.WriteAsync("data: 1\n\n"u8.ToArray());

        Assert.True(body.Streaming);
        Assert.Equal(0, body.HeldCapacity);
        Assert.Equal("data: 1\n\n"u8.ToArray(), agent.ToArray());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("data: 1\n\n"u8)), body.Sha256().ToString());
    }

    [Fact]
    public async Task A_held_answer_keeps_its_bytes_until_it_is_released()
    {
        var agent = new MemoryStream();
        var context = new DefaultHttpContext();
        var body = NewBody(context, agent);

        await body.WriteAsync("{\"ok\":true}"u8.ToArray());
        var hash = body.Sha256();
        await body.ReleaseAsync("receipt-hash", CancellationToken.None);

        Assert.Equal("{\"ok\":true}"u8.ToArray(), agent.ToArray());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData("{\"ok\":true}"u8)), hash.ToString());
        Assert.Equal("receipt-hash", context.Response.Headers[ReceiptedResponseBody.ReceiptHeader]);
    }

    private static ReceiptedResponseBody NewBody(DefaultHttpContext context, Stream agent)
    {
        var clock = new SteppedClock();
        var pipeline = new ExecutionPipeline(null!, null!, new GatewayClock(clock), null!);
        var ticket = new ExecutionTicket(
            "ex_test", "echo_backend", "default", Sha256Digest.Of("a"u8), Sha256Digest.Of("b"u8), null, null,
            clock.GetUtcNow(), null, 0, TimeSpan.FromSeconds(30));
        var feature = new StreamResponseBodyFeature(agent);
        context.Features.Set<IHttpResponseBodyFeature>(feature);
        return new ReceiptedResponseBody(feature, context.Response, ticket, pipeline, Limit);
    }
}
