using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using OpenExec.Gateway.Tests.Chaos;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// Slow clients cannot starve others (SPEC section 1, limits before any work): a slowloris that
/// trickles its request head or body is cut off by Kestrel's limits while a normal client keeps
/// getting answers, and past <c>OpenExec:MaxConcurrentRequests</c> the gateway answers 503
/// <c>overloaded</c> at once instead of queueing.
/// </summary>
public sealed class SlowClientTests
{
    [Fact]
    public async Task Kestrel_slow_client_limits_default_to_10_s_headers_and_240_B_per_s_bodies_and_are_configurable()
    {
        await using (var defaults = await GatewayServer.StartAsync())
        {
            var limits = defaults.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;
            Assert.Equal(TimeSpan.FromSeconds(10), limits.RequestHeadersTimeout);
            Assert.Equal(240, limits.MinRequestBodyDataRate!.BytesPerSecond);
            Assert.Equal(TimeSpan.FromSeconds(5), limits.MinRequestBodyDataRate.GracePeriod);
            Assert.NotNull(limits.MinResponseDataRate);
        }

        await using var configured = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kestrel:Limits:RequestHeadersTimeout"] = "00:00:03",
            ["Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond"] = "100",
            ["Kestrel:Limits:MinRequestBodyDataRate:GracePeriod"] = "00:00:02",
        });
        var set = configured.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits;
        Assert.Equal(TimeSpan.FromSeconds(3), set.RequestHeadersTimeout);
        Assert.Equal(100, set.MinRequestBodyDataRate!.BytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(2), set.MinRequestBodyDataRate.GracePeriod);
    }

    [Theory]
    [InlineData("Kestrel:Limits:RequestHeadersTimeout", "soon")]
    [InlineData("Kestrel:Limits:RequestHeadersTimeout", "00:00:00")]
    [InlineData("Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond", "-1")]
    [InlineData("Kestrel:Limits:MinRequestBodyDataRate:GracePeriod", "00:00:00.1")]
    [InlineData("Kestrel:Limits:MinRequestBodyDataRate:GracePeriod", "00:00:01")]
    [InlineData("Kestrel:Limits:MinResponseDataRate:GracePeriod", "00:00:01")]
    public async Task An_unusable_slow_client_limit_refuses_to_start_naming_it(string key, string value)
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => GatewayServer.StartAsync(new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key.Split(':')[2], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Slowloris_connections_are_cut_off_while_a_normal_client_keeps_getting_answers()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kestrel:Limits:RequestHeadersTimeout"] = "00:00:02",
            ["Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond"] = "240",
            ["Kestrel:Limits:MinRequestBodyDataRate:GracePeriod"] = "00:00:02",
            ["OpenExec:RateLimit:PerClientPerSecond"] = "0",
        });
        // A first request warms the path up: the timing below is of a warm gateway.
        using (var warm = await gateway.ExecuteAsync("echo", new { }, "warm-up"))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
        }
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // 40 connections trickle their request head, 20 a declared 4 KiB body, one byte at a time.
        var heads = Enumerable.Range(0, 40).Select(i => TrickleAsync(gateway.BaseAddress, $"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow-{i}: ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", stop.Token)).ToArray();
        var bodies = Enumerable.Range(0, 20).Select(i => TrickleAsync(gateway.BaseAddress, "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n", "{\"action\":\"echo\",\"payload\":{\"pad\":\"" + new string('p', 4000), stop.Token)).ToArray();

        // Meanwhile a normal client is answered promptly, every time.
        var latencies = new List<TimeSpan>();
        for (var i = 0; i < 20; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await gateway.ExecuteAsync("echo", new { i }, $"normal-{i}");
            latencies.Add(watch.Elapsed);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Task.Delay(100);
        }
        Assert.All(latencies, l => Assert.True(l < TimeSpan.FromSeconds(2), $"a normal request took {l.TotalMilliseconds:0} ms while slow clients trickled"));

        // The slow ones are cut off by the server, not by the test's own deadline.
        var cut = await Task.WhenAll(heads.Concat(bodies));
        Assert.All(cut, c => Assert.True(c.ClosedByServer, "a slow connection was still open after 30 s"));
        Assert.All(cut, c => Assert.True(c.After < TimeSpan.FromSeconds(12), $"a slow connection was cut only after {c.After.TotalSeconds:0.0} s"));
        Assert.All(cut, c => Assert.False(c.Answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal), c.Answer));

        // Nothing the slow clients sent ran: only the normal client's 21 receipts exist.
        var receipts = await gateway.ReceiptsAsync();
        Assert.Equal(21, receipts.Count);
        Assert.Equal(HttpStatusCode.OK, (await gateway.Client.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task A_request_body_slower_than_its_minimum_rate_is_answered_408_and_nothing_runs()
    {
        await using var gateway = await GatewayServer.StartAsync(new Dictionary<string, string?>
        {
            ["Kestrel:Limits:MinRequestBodyDataRate:BytesPerSecond"] = "240",
            ["Kestrel:Limits:MinRequestBodyDataRate:GracePeriod"] = "00:00:02",
        });

        // The head declares 4 KiB; one byte of it comes, then nothing.
        var (status, response) = await RawHttp.SendAsync(gateway.BaseAddress, "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n", "{"u8.ToArray());

        Assert.Equal(408, status);
        var problem = JsonDocument.Parse(response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]).RootElement;
        Assert.Equal("invalid_request", problem.Str("code"));
        Assert.Equal("Request Timeout", problem.Str("title"));
        Assert.Equal("The request body arrived too slowly; nothing was executed.", problem.Str("detail"));
        Assert.Empty(await gateway.ReceiptsAsync());
    }

    [Fact]
    public async Task Past_the_concurrency_limit_requests_get_503_overloaded_at_once_and_nothing_runs()
    {
        await using var backend = await CountingBackend.StartAsync(TimeSpan.FromSeconds(8));
        var settings = ProxyConfig.Route("slow", "slow_op", "slow", backend.Address.ToString(), executePath: "/run");
        settings["OpenExec:MaxConcurrentRequests"] = "2";
        await using var gateway = await GatewayServer.StartAsync(settings);

        var busy = Enumerable.Range(0, 2).Select(i => gateway.ExecuteAsync("slow_op", new { i }, $"busy-{i}")).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (backend.Total < 2)
        {
            Assert.True(DateTime.UtcNow < deadline, "the two slow requests never reached the backend");
            await Task.Delay(20);
        }

        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using var refused = await gateway.ExecuteAsync("slow_op", new { i }, $"extra-{i}");
            // A queued request would wait for the 8 s backend; under a loaded machine an
            // immediate answer can still take a second.
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the overloaded answer took {watch.Elapsed.TotalMilliseconds:0} ms: it queued");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Equal("1", refused.Headers.RetryAfter?.ToString());
            Assert.Equal("overloaded", (await Json.ReadAsync(refused)).Str("code"));
        }

        foreach (var response in await Task.WhenAll(busy))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        Assert.Equal(2, backend.Total);
        Assert.All(Enumerable.Range(0, 5), i => Assert.Equal(0, backend.CallsFor($"extra-{i}")));

        // Nothing was consumed by the refusals: the same nonce runs once there is room.
        using var retried = await gateway.ExecuteAsync("slow_op", new { i = 0 }, "extra-0");
        Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        var receipts = await gateway.ReceiptsAsync();
        Assert.Equal(3, receipts.Count);
        Assert.All(receipts, r => Assert.Equal("executed", r.GetProperty("body").Str("decision")));
    }

    private sealed record Cut(bool ClosedByServer, TimeSpan After, string Answer);

    /// <summary>Sends <paramref name="head"/>, then <paramref name="trickle"/> one byte every 250 ms until the server closes.</summary>
    private static async Task<Cut> TrickleAsync(Uri server, string head, string trickle, CancellationToken stop)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port, stop);
        var stream = client.GetStream();
        var watch = Stopwatch.StartNew();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), stop);
        var buffer = new byte[4096];
        var reading = stream.ReadAsync(buffer, stop).AsTask();
        try
        {
            foreach (var b in Encoding.ASCII.GetBytes(trickle))
            {
                var done = await Task.WhenAny(reading, Task.Delay(250, stop));
                if (done == reading)
                {
                    break;
                }
                await stream.WriteAsync(new[] { b }, stop);
            }
            var read = await reading.WaitAsync(stop);
            return new Cut(true, watch.Elapsed, Encoding.ASCII.GetString(buffer, 0, read));
        }
        catch (IOException)
        {
            return new Cut(true, watch.Elapsed, "");
        }
        catch (OperationCanceledException)
        {
            return new Cut(false, watch.Elapsed, "");
        }
    }
}
