using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace OpenExec.Gateway.Tests.Security;

/// <summary>
/// One HTTP/1.1 exchange over a bare socket, bytes exactly as given: the request is written
/// while the answer is read (a server may answer 413 before the body is sent), optionally
/// half-closed after the body (a body that ends before its declared length), and the answer is
/// read until the server closes. A reset after the answer arrived keeps what was read.
/// </summary>
public sealed record RawExchange(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body, string Text)
{
    public string? Code
    {
        get
        {
            if (Body.Length == 0 || !(Headers.GetValueOrDefault("content-type") ?? "").Contains("json", StringComparison.Ordinal))
            {
                return null;
            }
            try
            {
                using var doc = JsonDocument.Parse(Body);
                return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("code", out var code) ? code.GetString() : null;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    public static async Task<RawExchange> SendAsync(Uri server, byte[] request, bool halfClose, TimeSpan timeout)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        using var cancel = new CancellationTokenSource(timeout);
        var writing = Task.Run(async () =>
        {
            try
            {
                for (var offset = 0; offset < request.Length; offset += 65536)
                {
                    await stream.WriteAsync(request.AsMemory(offset, Math.Min(65536, request.Length - offset)), cancel.Token);
                }
                if (halfClose)
                {
                    client.Client.Shutdown(SocketShutdown.Send);
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The server answered and closed before taking the whole request: that is allowed.
            }
        });

        using var received = new MemoryStream();
        var buffer = new byte[65536];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cancel.Token)) > 0)
            {
                received.Write(buffer, 0, read);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
        {
        }
        await writing;
        return Parse(received.ToArray());
    }

    private static RawExchange Parse(byte[] raw)
    {
        var text = Encoding.Latin1.GetString(raw);
        var headEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (!text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) || headEnd < 0)
        {
            return new RawExchange(0, new Dictionary<string, string>(), [], text);
        }
        var lines = text[..headEnd].Split("\r\n");
        var status = int.Parse(lines[0].AsSpan(9, 3), CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }
        var body = raw.AsSpan(headEnd + 4).ToArray();
        if (headers.TryGetValue("content-length", out var length))
        {
            body = body.AsSpan(0, Math.Min(body.Length, int.Parse(length, CultureInfo.InvariantCulture))).ToArray();
        }
        else if (headers.GetValueOrDefault("transfer-encoding") == "chunked")
        {
            body = Dechunk(body);
        }
        return new RawExchange(status, headers, body, text.Length > 2000 ? text[..2000] : text);
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        var output = new MemoryStream();
        var i = 0;
        while (i < chunked.Length)
        {
            var lineEnd = chunked.AsSpan(i).IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                break;
            }
            var size = int.Parse(Encoding.ASCII.GetString(chunked, i, lineEnd).Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0)
            {
                break;
            }
            i += lineEnd + 2;
            output.Write(chunked, i, Math.Min(size, chunked.Length - i));
            i += size + 2;
        }
        return output.ToArray();
    }
}
