using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A real backend on loopback port 0 whose every <c>POST</c> answers JSON only after a delay:
/// the window in which a test cuts the gateway off mid-execution. Counts every call it received.
/// </summary>
public sealed class SlowBackend : IAsyncDisposable
{
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private WebApplication? _app;
    private int _calls;
    private string? _lastIdempotencyKey;
    private string? _lastPath;

    private SlowBackend()
    {
    }

    /// <summary>The address to put in a YARP destination (ends with a slash).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>How many POST requests reached the backend.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>The path of the last call.</summary>
    public string? LastPath => Volatile.Read(ref _lastPath);

    /// <summary>The <c>Idempotency-Key</c> of the last call.</summary>
    public string? LastIdempotencyKey => Volatile.Read(ref _lastIdempotencyKey);

    /// <summary>Completes when the first request has reached the handler (its body was sent).</summary>
    public Task FirstCall => _received.Task;

    public static async Task<SlowBackend> StartAsync(TimeSpan delay)
    {
        var backend = new SlowBackend();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/{**path}", async context =>
        {
            Interlocked.Increment(ref backend._calls);
            Volatile.Write(ref backend._lastPath, context.Request.Path.Value);
            Volatile.Write(ref backend._lastIdempotencyKey, context.Request.Headers["Idempotency-Key"].ToString());
            backend._received.TrySetResult();
            try
            {
                await Task.Delay(delay, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"done":true}""");
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
