using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>Large and event-stream answers stream through; their receipt is written when they end.</summary>
public sealed class ProxyStreamingTests : IAsyncLifetime
{
    private WebApplication _backend = null!;
    private string _address = null!;
    private readonly TaskCompletionSource _releaseStream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _calls;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _backend = builder.Build();
        _backend.MapPost("/v1/big", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _calls);
            context.Response.ContentType = "application/octet-stream";
            var chunk = new byte[64 * 1024];
            for (var i = 0; i < 40; i++)
            {
                Array.Fill(chunk, (byte)('a' + (i % 26)));
                await context.Response.Body.WriteAsync(chunk);
            }
        });
        _backend.MapPost("/v1/events", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _calls);
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await _releaseStream.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await context.Response.WriteAsync("data: last\n\n");
        });
        await _backend.StartAsync();
        _address = _backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
    }

    public async Task DisposeAsync()
    {
        _releaseStream.TrySetResult();
        await _backend.StopAsync();
        await _backend.DisposeAsync();
    }

    private static HttpRequestMessage Post(string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return request;
    }

    [Fact]
    public async Task A_response_larger_than_the_buffer_streams_and_is_receipted_after()
    {
        var settings = ProxyConfig.Route("big", "download", "v1", _address);
        settings["OpenExec:MaxBufferedResponse"] = "65536";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var response = await gateway.Client.SendAsync(Post("/v1/big", "k-big"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(40 * 64 * 1024, bytes.Length);
        var execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));
        Assert.False(response.Headers.Contains("OpenExec-Receipt"));

        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal("executed", receipt.GetProperty("body").Str("decision"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), receipt.GetProperty("body").Str("result_sha256"));
    }

    [Fact]
    public async Task An_event_stream_reaches_the_agent_before_it_ends()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("events", "watch", "v1", _address));

        using var response = await gateway.Client.SendAsync(Post("/v1/events", "k-sse"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));
        var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("data: first", Encoding.UTF8.GetString(buffer, 0, read), StringComparison.Ordinal);

        // Still open: no receipt yet; the replay of its nonce is in progress.
        var during = await gateway.Client.SendAsync(Post("/v1/events", "k-sse"));
        Assert.Equal(HttpStatusCode.Conflict, during.StatusCode);
        Assert.Equal("in_progress", (await Json.ReadAsync(during)).Str("code"));

        _releaseStream.TrySetResult();
        var rest = await new StreamReader(stream).ReadToEndAsync();
        Assert.Contains("data: last", rest, StringComparison.Ordinal);

        var receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        for (var i = 0; i < 100 && receipt.StatusCode == HttpStatusCode.NotFound; i++)
        {
            await Task.Delay(50);
            receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        }
        Assert.Equal("executed", (await Json.ReadAsync(receipt)).GetProperty("body").Str("decision"));
        Assert.Equal(1, _calls);
    }
}
