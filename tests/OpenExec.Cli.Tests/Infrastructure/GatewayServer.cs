using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using OpenExec.Gateway.Hosting;

namespace OpenExec.Cli.Tests.Infrastructure;

/// <summary>
/// A real gateway on real Kestrel, on a loopback port chosen by the OS, with its own data dir
/// (the minimal part of the gateway tests' GatewayServer).
/// </summary>
public sealed class GatewayServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private GatewayServer(WebApplication app, string dataDir)
    {
        _app = app;
        DataDir = dataDir;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
        Client = new HttpClient { BaseAddress = BaseAddress };
    }

    public Uri BaseAddress { get; }

    public string Url => BaseAddress.ToString().TrimEnd('/');

    public HttpClient Client { get; }

    public string DataDir { get; }

    /// <summary>Starts a gateway. <paramref name="settings"/> are configuration keys; <paramref name="environment"/> the seed's variables.</summary>
    public static async Task<GatewayServer> StartAsync(IDictionary<string, string?>? settings = null, IDictionary<string, string?>? environment = null)
    {
        var dataDir = TempDir.Create();
        var args = new List<string> { "--urls", "http://127.0.0.1:0", $"--OpenExec:DataDir={dataDir}", "--Logging:LogLevel:Default=Warning" };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            args.Add($"--{key}={value}");
        }
        var app = GatewayApp.Build([.. args], out var problems, environment ?? new Dictionary<string, string?>())
            ?? throw new InvalidOperationException("Gateway refused to start: " + string.Join("; ", problems));
        await app.RecoverAsync();
        await app.StartAsync();
        return new GatewayServer(app, dataDir);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        TempDir.Delete(DataDir);
    }
}

/// <summary>YARP route settings for a test gateway (as in the gateway tests' ProxyConfig).</summary>
public static class ProxyConfig
{
    public static Dictionary<string, string?> Route(string routeId, string action, string prefix, string backend, Dictionary<string, string?> into)
    {
        into[$"ReverseProxy:Routes:{routeId}:ClusterId"] = routeId;
        into[$"ReverseProxy:Routes:{routeId}:Match:Path"] = $"/{prefix}/{{**rest}}";
        into[$"ReverseProxy:Routes:{routeId}:Metadata:OpenExec.Action"] = action;
        into[$"ReverseProxy:Clusters:{routeId}:Destinations:d1:Address"] = backend;
        return into;
    }
}

/// <summary>Temporary directories for keys, exports and data dirs.</summary>
public static class TempDir
{
    public static string Create()
    {
        var dir = Path.Combine(Path.GetTempPath(), "openexec-cli-tests", Guid.NewGuid().ToString("N"));
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
