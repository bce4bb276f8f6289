using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A real Kestrel backend on loopback port 0 that speaks only HTTP/2 (cleartext, prior
/// knowledge): an HTTP/1.1 request gets Kestrel's own refusal. Every <c>POST</c> goes to the
/// handler the test gives; <see cref="Calls"/> counts them.
/// </summary>
public sealed class Http2Backend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _calls;

    private Http2Backend(WebApplication app) => _app = app;

    /// <summary>The address to put in a YARP destination (ends with a slash).</summary>
    public string Address { get; private set; } = null!;

    /// <summary>How many POST requests reached the handler.</summary>
    public int Calls => Volatile.Read(ref _calls);

    public static async Task<Http2Backend> StartAsync(RequestDelegate handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.ConfigureEndpointDefaults(e => e.Protocols = HttpProtocols.Http2));
        builder.Logging.ClearProviders();
        var backend = new Http2Backend(builder.Build());
        backend._app.MapPost("/{**path}", context =>
        {
            Interlocked.Increment(ref backend._calls);
            return handler(context);
        });
        await backend._app.StartAsync();
        backend.Address = backend._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/";
        return backend;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
