// Plain YARP: `--Backend http://127.0.0.1:PORT` names the echo backend; every path is forwarded.
using Yarp.ReverseProxy.Configuration;

// Content root = the program's own directory, as the gateway does: the host watches its content
// root (recursively) for appsettings changes, and rooted at the working directory it would see
// every write the gateways under test make when the harness is started above their data dirs.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
var backend = builder.Configuration["Backend"] ?? throw new InvalidOperationException("Set --Backend http://127.0.0.1:PORT");
builder.Services.AddReverseProxy().LoadFromMemory(
    [new RouteConfig { RouteId = "echo", ClusterId = "backend", Match = new RouteMatch { Path = "/{**rest}" } }],
    [new ClusterConfig { ClusterId = "backend", Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = backend } } }]);
var app = builder.Build();
app.MapReverseProxy();
await app.RunAsync().ConfigureAwait(false);
