using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>An agent that hangs up on a streamed answer ends the call: nothing streams to nobody.</summary>
public sealed class AgentHangUpTests : IAsyncLifetime
{
    private WebApplication _backend = null!;
    private string _address = null!;
    private readonly TaskCompletionSource _backendSawAbort = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _eventsWritten;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _backend = builder.Build();
        // An event stream that goes on until its reader goes away (a live feed).
        _backend.MapPost("/v1/feed", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/event-stream";
            try
            {
                for (var i = 0; ; i++)
                {
                    await context.Response.WriteAsync($"data: {i}\n\n", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    Interlocked.Increment(ref _eventsWritten);
                    await Task.Delay(100, context.RequestAborted);
                }
            }
            catch (Exception)
            {
                _backendSawAbort.TrySetResult();
            }
        });
        await _backend.StartAsync();
        _address = _backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
    }

    public async Task DisposeAsync()
    {
        await _backend.StopAsync();
        await _backend.DisposeAsync();
    }

    [Fact]
    public async Task An_agent_that_hangs_up_on_an_endless_stream_ends_the_call_and_its_receipt_is_not_executed()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("feed", "watch", "v1", _address));

        string execId;
        using (var agent = new TcpClient())
        {
            await agent.ConnectAsync(gateway.BaseAddress.Host, gateway.BaseAddress.Port);
            var stream = agent.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /v1/feed HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-feed\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"));
            var buffer = new byte[4096];
            var text = "";
            while (!text.Contains("data: 1", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.True(read > 0);
                text += Encoding.ASCII.GetString(buffer, 0, read);
            }
            execId = Regex.Match(text, "OpenExec-Exec-Id: (\\S+)", RegexOptions.IgnoreCase).Groups[1].Value;
            // The agent hangs up mid-answer.
            agent.Client.LingerState = new LingerOption(true, 0);
        }

        // Nobody reads the answer any more: the gateway must stop pulling it from the backend
        // (within the backend timeout at most), not hold the call, its concurrency slot and its
        // backend connection for as long as the backend goes on.
        var ended = await Task.WhenAny(_backendSawAbort.Task, Task.Delay(TimeSpan.FromSeconds(15))) == _backendSawAbort.Task;
        Assert.True(ended, $"the gateway was still streaming to nobody: {_eventsWritten} events pulled from the backend");

        var receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        for (var i = 0; i < 100 && receipt.StatusCode == HttpStatusCode.NotFound; i++)
        {
            await Task.Delay(50);
            receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        }
        // The stream broke for the agent (SPEC section 5: outcome_unknown if it breaks).
        Assert.Equal("outcome_unknown", (await Json.ReadAsync(receipt)).GetProperty("body").Str("decision"));
    }
}
