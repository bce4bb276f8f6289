// A plain Kestrel JSON echo: POST /echo answers the request's JSON body, parsed and written
// back (the same work the gateway's built-in echo does, minus every boundary step).
using System.Text.Json;

var builder = WebApplication.CreateSlimBuilder(args);
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
