using OpenExec.Gateway.Telemetry;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace OpenExec.Gateway.Tests.Telemetry;

/// <summary>
/// The header values refused at start are exactly those the OTLP exporter's HttpClient will not
/// send: it takes the others, and its exports then fail without a word.
/// </summary>
public sealed class OtlpHeadersTests : IDisposable
{
    private readonly WireMockServer _collector = WireMockServer.Start();

    public OtlpHeadersTests() => _collector.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));

    public void Dispose() => _collector.Stop();

    /// <summary>Every ASCII character but the pairs' separator, and a few beyond ASCII.</summary>
    public static TheoryData<string> Characters()
    {
        var characters = new TheoryData<string>();
        for (var c = '\0'; c < 0x80; c++)
        {
            if (c != ',')
            {
                characters.Add(c.ToString());
            }
        }
        foreach (var beyond in new[] { "\u0080", "\u00a0", "\u00e9", "\u00ff", "\u0100", "\ufffd", "\ud83d\ude00" })
        {
            characters.Add(beyond);
        }
        return characters;
    }

    [Theory]
    [MemberData(nameof(Characters))]
    public async Task A_value_is_refused_exactly_when_HttpClient_will_not_send_it(string character)
    {
        var value = $"a{character}b";
        bool sent;
        try
        {
            // As the exporter adds its headers to each export's request.
            using var request = new HttpRequestMessage(HttpMethod.Post, _collector.Urls[0]) { Content = new ByteArrayContent([1]) };
            request.Headers.Add("k", value);
            using var client = new HttpClient();
            using var response = await client.SendAsync(request);
            sent = true;
        }
        catch (Exception ex) when (ex is FormatException or HttpRequestException)
        {
            sent = false;
        }

        var problem = OtlpHeaders.Problem("k=" + Uri.EscapeDataString(value));

        Assert.True(sent == problem is null, $"U+{(int)character[0]:X4}: sent {sent}, problem '{problem}'");
    }
}
