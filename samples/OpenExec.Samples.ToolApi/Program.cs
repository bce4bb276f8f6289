using System.Collections.Concurrent;
using System.Text.Json.Nodes;

// A stand-in for a team's internal tool API. It has side effects (it "sends" email and opens
// tickets), so an agent must only reach it through the gateway. Default: http://127.0.0.1:5100.
var builder = WebApplication.CreateSlimBuilder(args);
if (string.IsNullOrEmpty(builder.Configuration["urls"]))
{
    builder.WebHost.UseUrls("http://127.0.0.1:5100");
}
var app = builder.Build();

var outbox = new ConcurrentQueue<JsonObject>();
var tickets = new ConcurrentDictionary<int, JsonObject>();
var nextTicket = 0;

app.MapPost("/v1/email/send", (JsonObject message, HttpRequest request) =>
{
    if (message["to"] is not JsonValue to || string.IsNullOrWhiteSpace(to.ToString()))
    {
        return Results.BadRequest(new JsonObject { ["error"] = "'to' is required" });
    }
    var sent = new JsonObject
    {
        ["message_id"] = Guid.NewGuid().ToString("N"),
        ["to"] = to.ToString(),
        ["subject"] = message["subject"]?.ToString() ?? "",
        ["status"] = "sent",
        ["idempotency_key"] = request.Headers["Idempotency-Key"].ToString(),
    };
    outbox.Enqueue(sent);
    return Results.Ok(sent);
});

app.MapGet("/v1/email/outbox", () => Results.Ok(new JsonObject { ["sent"] = new JsonArray(outbox.Select(m => (JsonNode)m.DeepClone()).ToArray()) }));

app.MapPost("/v1/tickets", (JsonObject ticket) =>
{
    var id = Interlocked.Increment(ref nextTicket);
    var created = new JsonObject { ["id"] = id, ["title"] = ticket["title"]?.ToString() ?? "", ["state"] = "open" };
    tickets[id] = created;
    return Results.Created($"/v1/tickets/{id}", created);
});

app.MapDelete("/v1/tickets/{id:int}", (int id) => tickets.TryRemove(id, out _) ? Results.NoContent() : Results.NotFound());

app.Run();
