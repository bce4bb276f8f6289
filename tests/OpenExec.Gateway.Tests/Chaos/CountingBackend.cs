using System.Collections.Concurrent;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenExec.Gateway.Tests.Chaos;

/// <summary>
/// A real backend on loopback port 0 that counts every request it received per
/// <c>Idempotency-Key</c> (the nonce the gateway forwards): the witness that no nonce ran twice.
/// Answers every method with a small JSON body, after an optional delay (the window in which a
/// test kills the gateway or the store mid-execution). It lives in the test process, so it
/// survives the gateway being SIGKILLed.
/// </summary>
public sealed class CountingBackend : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly TimeSpan _delay;
    private WebApplication? _app;
    private int _total;

    private CountingBackend(TimeSpan delay) => _delay = delay;

    /// <summary>The address to put in a YARP destination (ends with a slash).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Every request received, whatever its key.</summary>
    public int Total => Volatile.Read(ref _total);

    /// <summary>Calls per Idempotency-Key ("" for none).</summary>
    public IReadOnlyDictionary<string, int> Calls => _calls;

    public int CallsFor(string nonce) => _calls.GetValueOrDefault(nonce);

    public static async Task<CountingBackend> StartAsync(TimeSpan? delay = null)
    {
        var backend = new CountingBackend(delay ?? TimeSpan.Zero);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.Run(async context =>
        {
            var key = context.Request.Headers["Idempotency-Key"].ToString();
            // Counted once the request is complete: the body was delivered, so the action "ran".
            await context.Request.Body.CopyToAsync(Stream.Null, CancellationToken.None);
            backend._calls.AddOrUpdate(key, 1, (_, n) => n + 1);
            Interlocked.Increment(ref backend._total);
            if (backend._delay > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(backend._delay, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"ran":true,"n":{{backend._calls[key]}}}""");
        });
        await app.StartAsync();
        backend._app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Address = new Uri(address.TrimEnd('/') + "/");
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
