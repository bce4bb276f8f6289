using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Chaos;

/// <summary>
/// Load for chaos tests: several clients draw nonces from one shared pool (so they overlap and
/// race), each nonce always with the same request through the same front door (<c>/execute</c>
/// of a routed action, or its proxied route), against whatever gateway <see cref="Target"/>
/// currently returns. Records every answer; afterwards <see cref="AssertNothingRanTwiceAndNothingWasLostAsync"/>
/// holds the backend's counts, the receipts and the chains against each other.
/// </summary>
public sealed class ChaosLoad(CountingBackend backend, int poolSize, string action = "count_op", string routePrefix = "count")
{
    private readonly ConcurrentDictionary<string, Answered> _answered = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<int, int> _statuses = new();

    /// <summary>An answered 200: which client it came from, its exec id and receipt hash.</summary>
    public sealed record Answered(HttpClient Client, string ExecId, string Receipt);

    public IReadOnlyDictionary<string, Answered> Executed => _answered;

    public IReadOnlyDictionary<int, int> Statuses => _statuses;

    public static string Nonce(int k) => $"chaos-{k}";

    /// <summary>Runs <paramref name="clients"/> senders until <paramref name="stop"/>; <paramref name="target"/> picks a gateway per request (null: none up).</summary>
    public async Task RunAsync(int clients, Func<int, HttpClient?> target, CancellationToken stop)
    {
        var senders = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var random = new Random(c * 7919);
            while (!stop.IsCancellationRequested)
            {
                var k = random.Next(poolSize);
                var client = target(random.Next());
                if (client is null)
                {
                    await Task.Delay(20, CancellationToken.None);
                    continue;
                }
                await SendAsync(client, k);
            }
        }));
        await Task.WhenAll(senders);
    }

    private async Task SendAsync(HttpClient client, int k)
    {
        var nonce = Nonce(k);
        using var request = k % 3 == 0
            ? new HttpRequestMessage(HttpMethod.Post, $"/{routePrefix}/send") { Content = Body($$"""{"k":{{k}}}""") }
            : new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = Body($$"""{"action":"{{action}}","payload":{"k":{{k}}},"nonce":"{{nonce}}"}""") };
        if (k % 3 == 0)
        {
            request.Headers.Add("Idempotency-Key", nonce);
        }
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await client.SendAsync(request, timeout.Token);
            _statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return;
            }
            string execId, receipt;
            if (k % 3 == 0)
            {
                execId = response.Headers.GetValues("OpenExec-Exec-Id").Single();
                receipt = response.Headers.GetValues("OpenExec-Receipt").Single();
            }
            else
            {
                var body = await Json.ReadAsync(response);
                (execId, receipt) = (body.Str("id"), body.Str("receipt"));
            }
            if (!_answered.TryAdd(nonce, new Answered(client, execId, receipt)))
            {
                throw new InvalidOperationException($"nonce {nonce} was answered 200 twice");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Cut off by a kill: no answer, so no promise was made.
            _statuses.AddOrUpdate(0, 1, (_, n) => n + 1);
        }
    }

    private static ByteArrayContent Body(string json)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>
    /// The chaos invariants, given every chain (read from <paramref name="gateways"/>, each its own):
    /// the backend ran no nonce twice; every answered 200 has its receipt, readable from the
    /// gateway that answered; every chain passes the independent audit; no nonce has two
    /// executed receipts; and every call the backend received is accounted for by an
    /// <c>executed</c> or <c>outcome_unknown</c> receipt (nothing lost).
    /// </summary>
    /// <remarks><paramref name="readFrom"/> maps the client that got an answer to the one to read its receipt from (a restarted process has a new address).</remarks>
    public async Task<string> AssertNothingRanTwiceAndNothingWasLostAsync(IReadOnlyList<HttpClient> gateways, Func<HttpClient, HttpClient>? readFrom = null, string tenant = "default")
    {
        var twice = backend.Calls.Where(c => c.Value > 1).Select(c => $"{c.Key}×{c.Value}").ToList();
        Assert.True(twice.Count == 0, "the backend ran nonces more than once: " + string.Join(", ", twice));

        foreach (var (nonce, answered) in _answered)
        {
            using var stored = await (readFrom?.Invoke(answered.Client) ?? answered.Client).GetAsync($"/receipts/{answered.ExecId}");
            Assert.True(stored.StatusCode == HttpStatusCode.OK, $"answered 200 for {nonce} ({answered.ExecId}) but GET /receipts says {(int)stored.StatusCode}");
            var document = await Json.ReadAsync(stored);
            Assert.Equal(answered.Receipt, document.Str("hash"));
            Assert.Equal("executed", document.GetProperty("body").Str("decision"));
            Assert.Equal(1, backend.CallsFor(nonce));
        }

        var all = new List<ReceiptDocument>();
        foreach (var gateway in gateways)
        {
            var (chain, report) = await ReceiptAuditor.AuditAsync(gateway);
            Assert.True(report.Ok, $"chain audit failed: {report.Failure} after {report.Count} receipts");
            all.AddRange(chain);
        }
        var byNonce = all.GroupBy(d => d.Body.NonceSha256).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        var executedTwice = byNonce.Where(g => g.Value.Count(d => d.Body.Decision == "executed") > 1).Select(g => g.Key).ToList();
        Assert.True(executedTwice.Count == 0, $"{executedTwice.Count} nonces have two executed receipts");

        var unaccounted = new List<string>();
        foreach (var (nonce, calls) in backend.Calls)
        {
            if (calls == 0)
            {
                continue;
            }
            var receipts = byNonce.GetValueOrDefault(NonceHash.Compute(tenant, nonce)) ?? [];
            if (!receipts.Any(d => d.Body.Decision is "executed" or "outcome_unknown" or "upstream_failed"))
            {
                unaccounted.Add(nonce);
            }
        }
        Assert.True(unaccounted.Count == 0, $"the backend ran {unaccounted.Count} nonces that no receipt accounts for: {string.Join(", ", unaccounted.Take(10))}");

        var decisions = all.GroupBy(d => d.Body.Decision).Select(g => $"{g.Key} {g.Count()}");
        var statuses = _statuses.OrderBy(s => s.Key).Select(s => $"{(s.Key == 0 ? "no answer" : s.Key.ToString(System.Globalization.CultureInfo.InvariantCulture))} {s.Value}");
        return $"answers: {string.Join(", ", statuses)}; receipts: {string.Join(", ", decisions)}; backend ran {backend.Calls.Count(c => c.Value > 0)} nonces";
    }

    /// <summary>Routed action <paramref name="action"/> at <c>/{prefix}/…</c> with an ExecutePath, as a JSON config for a child process.</summary>
    public static object RouteConfig(Uri backendAddress, string action = "count_op", string prefix = "count") => new
    {
        ReverseProxy = new
        {
            Routes = new Dictionary<string, object>
            {
                ["count"] = new
                {
                    ClusterId = "count",
                    Match = new { Path = $"/{prefix}/{{**rest}}" },
                    Metadata = new Dictionary<string, string> { ["OpenExec.Action"] = action, ["OpenExec.ExecutePath"] = "/run" },
                },
            },
            Clusters = new Dictionary<string, object>
            {
                ["count"] = new { Destinations = new Dictionary<string, object> { ["d1"] = new { Address = backendAddress.ToString() } } },
            },
        },
    };

    public static string WriteConfig(string dir, object config)
    {
        var path = Path.Combine(dir, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }
}
