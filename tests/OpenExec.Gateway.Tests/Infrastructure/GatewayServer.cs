using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenExec.Gateway.Hosting;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A real gateway on real Kestrel, on a loopback port chosen by the OS, with its own data dir.
/// Settings are given as configuration keys (<c>OpenExec:Mode</c>) or the seed's variables.
/// </summary>
public sealed class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _ownsDataDir;

    private GatewayServer(WebApplication app, string dataDir, bool ownsDataDir)
    {
        _app = app;
        DataDir = dataDir;
        _ownsDataDir = ownsDataDir;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
        Client = new HttpClient { BaseAddress = BaseAddress };
    }

    public Uri BaseAddress { get; }

    /// <summary>The base address without a trailing slash, as a command line takes it.</summary>
    public string Url => BaseAddress.ToString().TrimEnd('/');

    public HttpClient Client { get; }

    public string DataDir { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a gateway. <paramref name="settings"/> are configuration keys; <paramref name="environment"/> the seed's variables.</summary>
    public static async Task<GatewayServer> StartAsync(
        IDictionary<string, string?>? settings = null,
        IDictionary<string, string?>? environment = null,
        string? dataDir = null,
        TimeProvider? time = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var ownsDataDir = dataDir is null;
        dataDir ??= TempDir.Create();
        var args = new List<string> { "--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=Warning" };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            args.Add($"--{key}={value}");
        }
        var app = GatewayApp.Build(args.ToArray(), out var problems, environment ?? new Dictionary<string, string?>(), builder =>
        {
            if (time is not null)
            {
                builder.Services.RemoveAll<TimeProvider>();
                builder.Services.AddSingleton(time);
            }
            configure?.Invoke(builder);
        }) ?? throw new InvalidOperationException("Gateway refused to start: " + string.Join("; ", problems));
        await app.RecoverAsync();
        await app.StartAsync();
        return new GatewayServer(app, dataDir, ownsDataDir);
    }

    public Task<HttpResponseMessage> ExecuteAsync(string action, object? payload, string nonce, object? approval = null)
    {
        var body = new Dictionary<string, object?> { ["action"] = action, ["nonce"] = nonce };
        if (payload is not null)
        {
            body["payload"] = payload;
        }
        if (approval is not null)
        {
            body["approval_artifact"] = approval;
        }
        return PostJsonAsync("/execute", JsonSerializer.Serialize(body));
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json, string contentType = "application/json")
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(json));
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return Client.PostAsync(path, content);
    }

    public Task<HttpResponseMessage> PostRawAsync(string path, byte[] body, string contentType = "application/json")
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return Client.PostAsync(path, content);
    }

    /// <summary>Every receipt this gateway wrote, in chain order.</summary>
    public async Task<List<JsonElement>> ReceiptsAsync()
    {
        var ndjson = await Client.GetStringAsync("/receipts?limit=10000");
        return ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_ownsDataDir)
        {
            TempDir.Delete(DataDir);
        }
    }
}

/// <summary>Temporary directories for data dirs and files.</summary>
public static class TempDir
{
    public static string Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), "openexec-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void Delete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Reading JSON answers in assertions.</summary>
public static class Json
{
    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;
}
