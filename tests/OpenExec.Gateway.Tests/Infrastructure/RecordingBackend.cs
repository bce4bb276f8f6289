using System.Net.Sockets;
using System.Text;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A raw HTTP/1.1 keep-alive backend that records each request head and body exactly as
/// received, and answers each with one fixed answer. With <c>answerFirstOnly</c> it answers only
/// the first request on each connection, then reads the head of the next one and closes without
/// answering: the case where SocketsHttpHandler could silently re-send on a new connection. With
/// <c>closeAfterAnswer</c> it closes each connection once it has answered (close-delimited answers).
/// </summary>
public sealed class RecordingBackend : IDisposable
{
    private readonly TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly byte[] _answer;
    private readonly bool _answerFirstOnly;
    private readonly bool _closeAfterAnswer;
    private int _requests;
    private int _connections;

    public RecordingBackend(string answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", bool answerFirstOnly = false, bool closeAfterAnswer = false)
    {
        _closeAfterAnswer = closeAfterAnswer;
        _answer = Encoding.Latin1.GetBytes(answer);
        _answerFirstOnly = answerFirstOnly;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    /// <summary>Every request head read, answered or not, in arrival order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Heads { get; } = new();

    /// <summary>Every request read whole (head and body), in arrival order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(string Head, byte[] Body)> Seen { get; } = new();

    public string Address => $"http://127.0.0.1:{((System.Net.IPEndPoint)_listener.LocalEndpoint).Port}/";

    /// <summary>Request heads read, answered or not.</summary>
    public int Requests => Volatile.Read(ref _requests);

    public int Connections => Volatile.Read(ref _connections);

    private Task AcceptLoopAsync() => TcpAccept.EachAsync(_listener, _stop.Token, client =>
    {
        Interlocked.Increment(ref _connections);
        _ = Task.Run(() => ServeAsync(client));
    });

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
                var head = Encoding.Latin1.GetString(pending.ToArray(), 0, headEnd);
                Heads.Enqueue(head);
                if (n > 0 && _answerFirstOnly)
                {
                    return;
                }
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
                Seen.Enqueue((head, pending.GetRange(headEnd + 4, length).ToArray()));
                pending.RemoveRange(0, headEnd + 4 + length);
                await stream.WriteAsync(_answer);
                if (_closeAfterAnswer)
                {
                    // A close-delimited answer (HTTP/1.0, no Content-Length) ends here.
                    client.Client.Shutdown(SocketShutdown.Send);
                    return;
                }
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
