using System.Net;
using System.Text.Json;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Http;

/// <summary>Assertions on what a client of the gateway sees: problem answers and receipts.</summary>
public static class GatewayAssert
{
    /// <summary>
    /// The answer is an RFC 9457 problem with this status and machine code; returns its body.
    /// </summary>
    public static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status} {code}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(code, problem.Str("code"));
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.Str("detail")));
        Assert.False(string.IsNullOrWhiteSpace(problem.Str("type")));
        Assert.False(string.IsNullOrWhiteSpace(problem.Str("title")));
        return problem;
    }

    /// <summary>A 200 execution; returns its body.</summary>
    public static async Task<JsonElement> ExecutedAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected 200, got {(int)response.StatusCode}: {text}");
        // The echo of a payload nested to the limit is deeper than JsonDocument's default of 64.
        var executed = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 256 }).RootElement.Clone();
        Assert.True(executed.GetProperty("approved").GetBoolean());
        Assert.Equal("executed", executed.GetProperty("receipt_document").GetProperty("body").Str("decision"));
        return executed;
    }

    /// <summary>The body of the receipt stored for <paramref name="execId"/>.</summary>
    public static async Task<JsonElement> ReceiptBodyAsync(GatewayServer gateway, string execId)
    {
        var response = await gateway.Client.GetAsync($"/receipts/{execId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await Json.ReadAsync(response)).GetProperty("body");
    }

    public static bool IsNull(this JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null;
}
