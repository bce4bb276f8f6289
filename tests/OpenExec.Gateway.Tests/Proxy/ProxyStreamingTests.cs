using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Proxy;

/// <summary>Large and event-stream answers stream through; their receipt is written when they end.</summary>
public sealed class ProxyStreamingTests : IAsyncLifetime
{
    private WebApplication _backend = null!;
    private string _address = null!;
    private readonly TaskCompletionSource _releaseStream = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _secondEvent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _lastEvent = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _backendSawAbort = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _lateHeadCalled = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _sendHead = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _sendBody = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _calls;
    private int _eventsWritten;

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
        MapEvents("/v1/long", ("1", null), ("2", _secondEvent.Task), ("3", _lastEvent.Task));
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

        _backend.MapPost("/v1/breaks", async (HttpContext context) =>
        {
            Interlocked.Increment(ref _calls);
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await Task.Delay(200);
            context.Abort();
        });
        _backend.MapPost("/v1/forges", async (HttpContext context) =>
        {
            context.Response.Headers["OpenExec-Receipt"] = new string('0', 64);
            context.Response.Headers["OpenExec-Exec-Id"] = "ex_forged";
            context.Response.ContentType = context.Request.Query.ContainsKey("sse") ? "text/event-stream" : "application/json";
            await context.Response.WriteAsync("""{"ok":true}""");
        });
        _backend.MapGet("/pt/forges", (HttpContext context) =>
        {
            context.Response.Headers["OpenExec-Receipt"] = new string('0', 64);
            context.Response.Headers["OpenExec-Exec-Id"] = "ex_forged";
            return context.Response.WriteAsync("read");
        });
        _backend.MapMethods("/v1/bodyless/{status:int}", ["POST", "GET", "HEAD"], (HttpContext context, int status) =>
        {
            context.Response.StatusCode = status;
            context.Response.Headers.ETag = "\"e1\"";
            if (status == 200)
            {
                // A HEAD's answer: the length of the body a GET would get, and no body.
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 100;
            }
            return Task.CompletedTask;
        });
        MapEvents("/v1/events", ("first", null), ("last", _releaseStream.Task));
        // A head that comes late and a body that comes later still, each within the timeout.
        _backend.MapPost("/v1/late-head", async (HttpContext context) =>
        {
            _lateHeadCalled.TrySetResult();
            await _sendHead.Task.WaitAsync(TimeSpan.FromSeconds(20));
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = 11;
            await context.Response.StartAsync();
            await context.Response.Body.FlushAsync();
            await _sendBody.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await context.Response.WriteAsync("""{"ok":true}""");
        });
        await _backend.StartAsync();
        _address = _backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
    }

    /// <summary>Starts a proxied call whose answer streams: its headers have arrived, 200, with its exec id.</summary>
    private static async Task<(HttpResponseMessage Response, string ExecId)> OpenStreamAsync(GatewayServer gateway, string path, string key)
    {
        var response = await gateway.Client.SendAsync(Post(path, key), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (response, Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id")));
    }

    /// <summary>An event stream: each event sent (and flushed) once its gate, if any, opens.</summary>
    private void MapEvents(string path, params (string Data, Task? Gate)[] events)
        => _backend.MapPost(path, async (HttpContext context) =>
        {
            Interlocked.Increment(ref _calls);
            context.Response.ContentType = "text/event-stream";
            foreach (var (data, gate) in events)
            {
                if (gate is not null)
                {
                    await gate.WaitAsync(TimeSpan.FromSeconds(20));
                }
                await context.Response.WriteAsync($"data: {data}\n\n");
                await context.Response.Body.FlushAsync();
            }
        });

    public async Task DisposeAsync()
    {
        _releaseStream.TrySetResult();
        _secondEvent.TrySetResult();
        _lastEvent.TrySetResult();
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
    public async Task A_head_that_comes_late_renews_the_lease_before_a_body_that_comes_later_with_redis()
    {
        // The backend timeout allows the head that long, then the body as long again. Renewed only
        // on the answer's bytes, the lease (the timeout + 30 s) ran out before the body came, with
        // the call still live: another instance, or the holder's own sweep, took it over as
        // outcome_unknown. The head's arrival is progress too.
        await using var rig = await RedisLeaseRig.StartAsync(ProxyConfig.Route("late", "late_head", "v1", _address), "00:00:20", "k-late-head");
        var (time, gateway) = (rig.Time, rig.Gateway);

        var call = gateway.Client.SendAsync(Post("/v1/late-head", "k-late-head"));
        await _lateHeadCalled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var firstLease = await rig.LeaseAsync();

        // The head comes 20 s (of the gateway's clock) after the claim; the body not yet.
        time.Advance(TimeSpan.FromSeconds(20));
        _sendHead.TrySetResult();
        Assert.True(await rig.RenewedBeyondAsync(firstLease), "the lease was renewed when the head came");
        Assert.False(call.IsCompleted);

        _sendBody.TrySetResult();
        using var response = await call.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"ok":true}""", await response.Content.ReadAsStringAsync());
        var execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal("executed", receipt.GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task A_stream_that_outlives_its_first_lease_stays_in_progress_with_redis_and_gets_one_receipt()
    {
        // The lease is the backend timeout + 30 s; an event stream may run far longer while it
        // makes progress. Each event renews the lease, so no other instance takes it for a dead
        // holder's (which would record outcome_unknown for a call that completed).
        await using var rig = await RedisLeaseRig.StartAsync(ProxyConfig.Route("long", "watch", "v1", _address), "00:00:05", "k-long");
        var (time, gateway) = (rig.Time, rig.Gateway);

        var (response, execId) = await OpenStreamAsync(gateway, "/v1/long", "k-long");
        using var _ = response;
        var stream = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("data: 1", await stream.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        // The lease as taken: 35 s from the claim on Redis's clock.
        var firstLease = await rig.LeaseAsync();

        // 20 s later the next event arrives: the lease is renewed from then.
        time.Advance(TimeSpan.FromSeconds(20));
        _secondEvent.TrySetResult();
        await stream.ReadLineAsync();
        Assert.Equal("data: 2", await stream.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(await rig.RenewedBeyondAsync(firstLease), "the lease was renewed");

        // Past the first lease: the call is still running, and reads so.
        time.Advance(TimeSpan.FromSeconds(20));
        var during = await gateway.Client.SendAsync(Post("/v1/long", "k-long"));
        Assert.Equal(HttpStatusCode.Conflict, during.StatusCode);
        var inProgress = await Json.ReadAsync(during);
        Assert.Equal("in_progress", inProgress.Str("code"));
        Assert.Equal("1", during.Headers.RetryAfter!.ToString());
        // Which attempt is running, so that its receipt can be found once it ends.
        Assert.Equal(execId, inProgress.GetProperty("original").Str("id"));
        Assert.Equal("in_progress", inProgress.GetProperty("original").Str("decision"));
        Assert.Equal(System.Text.Json.JsonValueKind.Null, inProgress.GetProperty("original").GetProperty("receipt").ValueKind);

        _lastEvent.TrySetResult();
        Assert.Contains("data: 3", await stream.ReadToEndAsync(), StringComparison.Ordinal);
        var receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        for (var i = 0; i < 100 && receipt.StatusCode == HttpStatusCode.NotFound; i++)
        {
            await Task.Delay(50);
            receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        }
        Assert.Equal("executed", (await Json.ReadAsync(receipt)).GetProperty("body").Str("decision"));
        var replay = await Json.ReadAsync(await gateway.Client.SendAsync(Post("/v1/long", "k-long")));
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal("executed", replay.GetProperty("original").Str("decision"));
        Assert.Single(await gateway.ReceiptsAsync(), r => r.GetProperty("body").Str("exec_id") == execId);
        Assert.Equal(1, _calls);
    }

    [Fact]
    public async Task A_stream_the_backend_breaks_off_is_cut_for_the_agent_too_after_its_receipt()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("events", "watch", "v1", _address));

        var (response, execId) = await OpenStreamAsync(gateway, "/v1/breaks", "k-break");
        using var _ = response;

        // A truncated answer must not read as a complete one.
        AssertCut(await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(20))));
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal("outcome_unknown", receipt.GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task A_stream_the_backend_breaks_off_is_reset_for_an_http2_agent_after_its_receipt()
    {
        // Over HTTP/2 the cut is the stream's reset, not the connection's close: the agent's
        // read must fail, never end as if the answer were whole.
        // A slow outcome write: a reset sent before it would reach the agent first.
        await using var gateway = Http2Agent.Use(await GatewayServer.StartAsync(Http2Agent.Serve(ProxyConfig.Route("events", "watch", "v1", _address)), configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { OutcomeDelay = TimeSpan.FromMilliseconds(500) })));
        using var request = Http2Agent.Exact(Post("/v1/breaks", "k-break-h2"));

        using var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (response.StatusCode, response.Version));
        var execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));

        AssertCut(await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(20))));
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Equal("outcome_unknown", receipt.GetProperty("body").Str("decision"));
        // The connection outlives the reset stream: the agent's other calls go on.
        Assert.Equal(HttpVersion.Version20, (await gateway.Client.GetAsync("/health")).Version);
    }

    [Fact]
    public async Task A_pass_through_answer_carries_no_receipt_headers_even_when_its_backend_sets_them()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("pt", "", "pt", _address, passThrough: true));

        var response = await gateway.Client.GetAsync("/pt/forges");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("OpenExec-Receipt"));
        Assert.False(response.Headers.Contains("OpenExec-Exec-Id"));
    }

    /// <summary>The read failed because the answer was cut, not because it never ended.</summary>
    private static void AssertCut(Exception? failure)
    {
        Assert.NotNull(failure);
        Assert.IsNotType<TimeoutException>(failure);
    }

    [Fact]
    public async Task A_broken_stream_is_cut_for_the_agent_even_when_its_receipt_could_not_be_written()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("events", "watch", "v1", _address), configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = 1 }));
        var (response, _) = await OpenStreamAsync(gateway, "/v1/breaks", "k-break-flaky");
        using var _ = response;

        AssertCut(await Record.ExceptionAsync(() => response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(20))));
    }

    [Fact]
    public async Task A_long_streams_outcome_that_could_not_be_written_is_still_recorded_later()
    {
        // The stream outlives its first lease (renewed as it goes); the outcome write then fails
        // once. The retry runs to the lease as it stands, not the first one (long passed).
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = ProxyConfig.Route("long", "watch", "v1", _address);
        settings["OpenExec:BackendTimeout"] = "00:00:05";
        await using var gateway = await GatewayServer.StartAsync(settings, time: time, configure: builder =>
            builder.Services.AddSingleton<OpenExec.Gateway.Store.IExecutionStore>(sp => new FlakyStore(sp.GetRequiredService<OpenExec.Gateway.Store.SqliteExecutionStore>()) { FailOutcomes = 1 }));
        var (response, execId) = await OpenStreamAsync(gateway, "/v1/long", "k-long-flaky");
        using var _ = response;
        var stream = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal("data: 1", await stream.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        time.Advance(TimeSpan.FromSeconds(40));
        _secondEvent.TrySetResult();
        _lastEvent.TrySetResult();
        // The whole stream arrived, but with no receipt to say so it does not end cleanly.
        AssertCut(await Record.ExceptionAsync(() => stream.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20))));

        JsonElement replay = default;
        for (var i = 0; i < 60; i++)
        {
            replay = await Json.ReadAsync(await gateway.Client.SendAsync(Post("/v1/long", "k-long-flaky")));
            if (replay.Str("code") != "in_progress")
            {
                break;
            }
            await Task.Delay(100);
        }
        Assert.Equal("replay_denied", replay.Str("code"));
        Assert.Equal(("outcome_unknown", execId), (replay.GetProperty("original").Str("decision"), replay.GetProperty("original").Str("id")));
    }

    [Theory]
    [InlineData("/v1/forges")]
    [InlineData("/v1/forges?sse=1")]
    public async Task The_backend_cannot_set_the_gateways_receipt_headers(string path)
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("forges", "forge", "v1", _address));

        var response = await gateway.Client.SendAsync(Post(path, "k-forge" + path.Length));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));
        Assert.StartsWith("ex_", execId, StringComparison.Ordinal);
        Assert.NotEqual("ex_forged", execId);
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        if (path.Contains("sse", StringComparison.Ordinal))
        {
            // A streamed answer is named by its exec id only.
            Assert.False(response.Headers.Contains("OpenExec-Receipt"));
        }
        else
        {
            Assert.Equal(receipt.Str("hash"), Assert.Single(response.Headers.GetValues("OpenExec-Receipt")));
        }
    }

    [Theory]
    [InlineData("POST", 204)]
    [InlineData("GET", 304)]
    [InlineData("HEAD", 200)]
    public async Task A_bodyless_answer_passes_through_unchanged_and_receipted(string method, int status)
    {
        var logs = new LogCapture();
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("bodyless", "check", "v1", _address), configure: builder => builder.Logging.AddProvider(logs));
        // Raw HTTP: the agent sees exactly the backend's status line and headers.
        var (answered, text) = await RawHttp.SendAsync(gateway.BaseAddress,
            $"{method} /v1/bodyless/{status} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-{method}-{status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

        Assert.Equal(status, answered);
        var head = text.Split("\r\n\r\n")[0];
        Assert.Contains("ETag: \"e1\"", head, StringComparison.OrdinalIgnoreCase);
        if (status == 200)
        {
            Assert.Contains("Content-Length: 100", head, StringComparison.OrdinalIgnoreCase);
        }
        else
        {
            Assert.DoesNotContain("Content-Length", head, StringComparison.OrdinalIgnoreCase);
        }
        var execId = Regex.Match(head, "OpenExec-Exec-Id: (\\S+)", RegexOptions.IgnoreCase).Groups[1].Value;
        var receipt = await Json.ReadAsync(await gateway.Client.GetAsync($"/receipts/{execId}"));
        Assert.Contains($"OpenExec-Receipt: {receipt.Str("hash")}", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("executed", receipt.GetProperty("body").Str("decision"));
        Assert.DoesNotContain(logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_event_stream_reaches_the_agent_before_it_ends()
    {
        await using var gateway = await GatewayServer.StartAsync(ProxyConfig.Route("events", "watch", "v1", _address));

        var (response, execId) = await OpenStreamAsync(gateway, "/v1/events", "k-sse");
        using var _ = response;
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

        await AssertStreamEndedForNobodyAsync(gateway, execId);
    }

    /// <summary>
    /// Nobody reads the answer any more: the gateway must stop pulling it from the backend
    /// (within the backend timeout at most), not hold the call, its concurrency slot and its
    /// backend connection for as long as the backend goes on; and the stream broke for the agent
    /// (SPEC section 5: outcome_unknown if it breaks).
    /// </summary>
    private async Task AssertStreamEndedForNobodyAsync(GatewayServer gateway, string execId)
    {
        var ended = await Task.WhenAny(_backendSawAbort.Task, Task.Delay(TimeSpan.FromSeconds(15))) == _backendSawAbort.Task;
        Assert.True(ended, $"the gateway was still streaming to nobody: {_eventsWritten} events pulled from the backend");

        var receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        for (var i = 0; i < 100 && receipt.StatusCode == HttpStatusCode.NotFound; i++)
        {
            await Task.Delay(50);
            receipt = await gateway.Client.GetAsync($"/receipts/{execId}");
        }
        Assert.Equal("outcome_unknown", (await Json.ReadAsync(receipt)).GetProperty("body").Str("decision"));
    }

    [Fact]
    public async Task An_http2_agent_that_resets_its_stream_on_an_endless_stream_ends_the_call()
    {
        // Over HTTP/2 the agent hangs up by resetting its stream; its connection lives on.
        await using var gateway = Http2Agent.Use(await GatewayServer.StartAsync(Http2Agent.Serve(ProxyConfig.Route("feed", "watch", "v1", _address))));
        using var request = Http2Agent.Exact(Post("/v1/feed", "k-feed-h2"));

        string execId;
        using (var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            execId = Assert.Single(response.Headers.GetValues("OpenExec-Exec-Id"));
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            while ((await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)))?.Contains("data: 1", StringComparison.Ordinal) != true)
            {
            }
            // Disposing an unfinished HTTP/2 answer resets its stream.
        }

        await AssertStreamEndedForNobodyAsync(gateway, execId);
    }

    /// <summary>A gateway on its own Redis with a stepped clock, one route and one nonce whose claim's lease is read from Redis.</summary>
    private sealed class RedisLeaseRig : IAsyncDisposable
    {
        private RedisServer _redis = null!;
        private StackExchange.Redis.ConnectionMultiplexer _admin = null!;
        private string _nonceKey = null!;

        public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

        public GatewayServer Gateway { get; private set; } = null!;

        public static async Task<RedisLeaseRig> StartAsync(Dictionary<string, string?> settings, string backendTimeout, string nonce)
        {
            var rig = new RedisLeaseRig { _redis = RedisServer.Start() };
            settings["OpenExec:BackendTimeout"] = backendTimeout;
            settings["ConnectionStrings:Redis"] = rig._redis.Configuration;
            rig.Gateway = await GatewayServer.StartAsync(settings, time: rig.Time);
            rig._admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(rig._redis.Configuration);
            rig._nonceKey = "openexec:nonce:" + NonceHash.Compute("default", nonce);
            return rig;
        }

        /// <summary>The claim's lease as Redis holds it (ms, Redis's clock).</summary>
        public async Task<long> LeaseAsync() => (long)await _admin.GetDatabase().HashGetAsync(_nonceKey, "lease");

        /// <summary>Whether the lease moves past <paramref name="lease"/> within 5 s (renewals are not awaited by the call).</summary>
        public async Task<bool> RenewedBeyondAsync(long lease)
        {
            for (var i = 0; i < 100 && await LeaseAsync() <= lease; i++)
            {
                await Task.Delay(50);
            }
            return await LeaseAsync() > lease;
        }

        public async ValueTask DisposeAsync()
        {
            await Gateway.DisposeAsync();
            _admin.Dispose();
            _redis.Dispose();
        }
    }
}
