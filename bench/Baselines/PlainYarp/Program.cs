// Plain YARP: `--Backend http://127.0.0.1:PORT` names the echo backend; every path is forwarded.
using Yarp.ReverseProxy.Configuration;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
var backend = builder.Configuration["Backend"] ?? throw new InvalidOperationException("Set --Backend http://127.0.0.1:PORT");
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "echo", ClusterId = "backend", Match = new RouteMatch { Path = "/{**rest}" } }],
    [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = backend } } }]);
var app = builder.Build();
app.MapReverseProxy();
await app.RunAsync().ConfigureAwait(false);
