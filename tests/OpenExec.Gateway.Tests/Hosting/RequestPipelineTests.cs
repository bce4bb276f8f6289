using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// What runs in front of every request is the gateway's own middleware. YARP registers ASP.NET
/// Core's authorization services, and WebApplication then puts the authorization middleware in
/// front of every request; the gateway authorizes by approvals and refuses routes with an
/// AuthorizationPolicy, so that middleware had nothing to check, and its one effect on each
/// request was an Items dictionary (and an async frame around the rest).
/// </summary>
public sealed class RequestPipelineTests
{
    [Fact]
    public async Task No_request_is_given_an_items_dictionary()
    {
        using var backend = new RecordingBackend();
        var seen = new ConcurrentQueue<(string Path, int Status, bool HadItems)>();
        await using var gateway = await GatewayServer.StartAsync(
            ProxyConfig.Route("r", "op", "v1", backend.Address),
            configure: builder => builder.Services.AddSingleton<IStartupFilter>(new Outermost(seen)));

        using (var proxied = new HttpRequestMessage(HttpMethod.Post, "/v1/orders") { Content = new StringContent("""{"n":1}""", Encoding.UTF8, "application/json") })
        {
            proxied.Headers.Add("Idempotency-Key", "pipeline-1");
            Assert.Equal(200, (int)(await gateway.Client.SendAsync(proxied)).StatusCode);
        }
        Assert.Equal(200, (int)(await gateway.ExecuteAsync("echo", new { m = 1 }, "pipeline-2")).StatusCode);
        Assert.Equal(200, (int)(await gateway.Client.GetAsync("/receipts")).StatusCode);
        Assert.Equal(200, (int)(await gateway.Client.GetAsync("/health")).StatusCode);

        Assert.Single(backend.Seen);
        Assert.Equal(["/v1/orders", "/execute", "/receipts", "/health"], seen.Select(s => s.Path));
        Assert.All(seen, s => Assert.False(s.HadItems, $"{s.Path} ({s.Status}) was given an Items dictionary"));
    }

    /// <summary>Notes, once each request has been answered, whether anything gave it an Items dictionary.</summary>
    private sealed class Outermost(ConcurrentQueue<(string Path, int Status, bool HadItems)> seen) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use(async (HttpContext context, RequestDelegate rest) =>
            {
                await rest(context);
                seen.Enqueue((context.Request.Path.Value ?? "", context.Response.StatusCode, context.Features.Get<IItemsFeature>() is not null));
            });
            next(app);
        };
    }
}
