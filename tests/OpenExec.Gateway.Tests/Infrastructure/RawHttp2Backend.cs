using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// An HTTP/2 backend (cleartext, prior knowledge) written frame by frame, so that it can send
/// what Kestrel never would: a body that does not match its own <c>content-length</c>. Each
/// request stream, once it ends, gets one answer: the given status and headers, then the given
/// body bytes and END_STREAM; with a <see cref="Refusal"/>, the first request stream, once
/// received whole, is refused instead (as a backend that ran it and then refused it would).
/// </summary>
public sealed class RawHttp2Backend : IDisposable
{
    /// <summary>How the first request stream is refused after it was received whole.</summary>
    public enum Refusal
    {
        None,
        /// <summary>RST_STREAM with REFUSED_STREAM ("not processed, retry").</summary>
        RefusedStream,
        /// <summary>GOAWAY with last stream id 0 ("nothing processed"), then the connection closed.</summary>
        GoAwayBeforeIt,
    }

    private const byte Data = 0x0, Headers = 0x1, RstStream = 0x3, Settings = 0x4, GoAway = 0x7;
    private const byte EndStream = 0x1, EndHeaders = 0x4, Ack = 0x1;

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly (string Name, string Value)[] _headers;
    private readonly byte[] _body;
    private int _requests;
    private int _refusing;

    public RawHttp2Backend((string Name, string Value)[] headers, byte[] body, Refusal refuseFirst = Refusal.None)
    {
        _headers = headers;
        _body = body;
        _refusing = (int)refuseFirst;
        _listener.Start();
        _ = AcceptLoopAsync();
    }

    public string Address => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";

    /// <summary>Request heads received (each request stream opened).</summary>
    public int Requests => Volatile.Read(ref _requests);

    private Task AcceptLoopAsync() => TcpAccept.EachAsync(_listener, _stop.Token, client => _ = ServeAsync(client));

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        try
        {
            await ReadExactlyAsync(stream, 24); // the client preface
            await stream.WriteAsync(Frame(Settings, 0, 0, []));
            while (true)
            {
                var head = await ReadExactlyAsync(stream, 9);
                var length = (head[0] << 16) | (head[1] << 8) | head[2];
                var (type, flags) = (head[3], head[4]);
                var id = ((head[5] & 0x7f) << 24) | (head[6] << 16) | (head[7] << 8) | head[8];
                await ReadExactlyAsync(stream, length);
                if (type == Settings && (flags & Ack) == 0)
                {
                    await stream.WriteAsync(Frame(Settings, Ack, 0, []));
                }
                else if (type == GoAway)
                {
                    return;
                }
                if (type == Headers)
                {
                    // A request's head: received, whether or not its body follows.
                    Interlocked.Increment(ref _requests);
                }
                if (type is Headers or Data && (flags & EndStream) != 0)
                {
                    switch ((Refusal)Interlocked.Exchange(ref _refusing, (int)Refusal.None))
                    {
                        case Refusal.RefusedStream:
                            await stream.WriteAsync(Frame(RstStream, 0, id, [0, 0, 0, 0x7]));
                            continue;
                        case Refusal.GoAwayBeforeIt:
                            await stream.WriteAsync(Frame(GoAway, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]));
                            return;
                    }
                    await stream.WriteAsync(Frame(Headers, EndHeaders, id, HeaderBlock()));
                    await stream.WriteAsync(Frame(Data, EndStream, id, _body));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or EndOfStreamException or OperationCanceledException)
        {
        }
    }

    /// <summary>HPACK literals without indexing, new names (RFC 7541 section 6.2.2); every string under 127 bytes.</summary>
    private byte[] HeaderBlock()
    {
        var block = new List<byte>();
        foreach (var (name, value) in _headers)
        {
            block.Add(0x00);
            block.Add((byte)name.Length);
            block.AddRange(Encoding.ASCII.GetBytes(name));
            block.Add((byte)value.Length);
            block.AddRange(Encoding.ASCII.GetBytes(value));
        }
        return [.. block];
    }

    private static byte[] Frame(byte type, byte flags, int stream, byte[] payload)
    {
        var frame = new byte[9 + payload.Length];
        (frame[0], frame[1], frame[2]) = ((byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length);
        (frame[3], frame[4]) = (type, flags);
        (frame[5], frame[6], frame[7], frame[8]) = ((byte)(stream >> 24), (byte)(stream >> 16), (byte)(stream >> 8), (byte)stream);
        payload.CopyTo(frame, 9);
        return frame;
    }

    private static async Task<byte[]> ReadExactlyAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
    }
}
