using System.Net.Sockets;
using System.Text;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// HTTP/1.1 over a bare socket, for requests that HttpClient would normalize (dot segments,
/// encoded slashes) or refuse to send (lying lengths).
/// </summary>
public static class RawHttp
{
    public static async Task<(int Status, string Response)> SendAsync(Uri server, string requestHead, byte[]? body = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(requestHead));
        if (body is not null)
        {
            await stream.WriteAsync(body);
        }
        using var reader = new MemoryStream();
        var buffer = new byte[8192];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
            {
                reader.Write(buffer, 0, read);
                var text = Encoding.UTF8.GetString(reader.ToArray());
                if (IsComplete(text))
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
        }
        var response = Encoding.UTF8.GetString(reader.ToArray());
        var status = response.Length >= 12 ? int.Parse(response.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture) : 0;
        return (status, response);
    }

    private static bool IsComplete(string text)
    {
        var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (headerEnd < 0)
        {
            return false;
        }
        foreach (var line in text[..headerEnd].Split("\r\n"))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                var length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                return Encoding.UTF8.GetByteCount(text[(headerEnd + 4)..]) >= length;
            }
        }
        return false;
    }
}
