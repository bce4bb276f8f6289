// A plain Kestrel JSON echo: POST /echo answers the request's JSON body, parsed and written
// back (the same work the gateway's built-in echo does, minus every boundary step).
using System.Text.Json;

// Content root = the program's own directory, as the gateway does: the host watches its content
// root (recursively) for appsettings changes, and rooted at the working directory it would see
// every write the gateways under test make when the harness is started above their data dirs.
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
var app = builder.Build();

app.MapPost("/echo", async (HttpContext context) =>
{
    using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
    context.Response.ContentType = "application/json";
    await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
    document.WriteTo(writer);
    await writer.FlushAsync(context.RequestAborted).ConfigureAwait(false);
});
app.MapGet("/", () => "ok");

await app.RunAsync().ConfigureAwait(false);
