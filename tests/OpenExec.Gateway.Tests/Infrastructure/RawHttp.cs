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

/// <summary>
/// A keep-alive backend that answers the first request on each connection, then reads the head
/// of the next one and closes without answering: the case where SocketsHttpHandler could
/// silently re-send on a new connection. Counts every request head it read.
/// </summary>
public sealed class ClosingBackend : IDisposable
{
    private readonly TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private int _requests;

    public ClosingBackend()
    {
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public string Address => $"http://127.0.0.1:{((System.Net.IPEndPoint)_listener.LocalEndpoint).Port}/";

    public int Requests => Volatile.Read(ref _requests);

    public int Connections => Volatile.Read(ref _connections);

    private int _connections;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            var stream = client.GetStream();
            var pending = new List<byte>();
            var buffer = new byte[16384];
            for (var n = 0; ; n++)
            {
                int headEnd;
                while ((headEnd = IndexOfHeadEnd(pending)) < 0)
                {
                    var read = await stream.ReadAsync(buffer);
                    if (read == 0)
                    {
                        return;
                    }
                    pending.AddRange(buffer.AsSpan(0, read).ToArray());
                }
                Interlocked.Increment(ref _requests);
                if (n > 0)
                {
                    return;
                }
                var head = Encoding.ASCII.GetString(pending.ToArray(), 0, headEnd);
                var length = 0;
                foreach (var line in head.Split("\r\n"))
                {
                    if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                    {
                        length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                    }
                }
                while (pending.Count < headEnd + 4 + length)
                {
                    var read = await stream.ReadAsync(buffer);
                    if (read == 0)
                    {
                        return;
                    }
                    pending.AddRange(buffer.AsSpan(0, read).ToArray());
                }
                pending.RemoveRange(0, headEnd + 4 + length);
                await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"u8.ToArray());
            }
        }
    }

    private static int IndexOfHeadEnd(List<byte> data)
    {
        for (var i = 0; i + 3 < data.Count; i++)
        {
            if (data[i] == '\r' && data[i + 1] == '\n' && data[i + 2] == '\r' && data[i + 3] == '\n')
            {
                return i;
            }
        }
        return -1;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
