namespace OpenExec.Gateway.Proxy;

/// <summary>
/// An HTTP/2 connection to a backend, read so that no request is ever sent twice.
/// SocketsHttpHandler re-sends a request, silently, when the backend resets its stream with
/// <c>REFUSED_STREAM</c> (or <c>HTTP_1_1_REQUIRED</c>, then over HTTP/1.1) or leaves it out of a
/// <c>GOAWAY</c>'s last stream id: the protocol's word that the backend did not process it (RFC
/// 9113 sections 8.7 and 6.8). A backend, or a proxy in front of it, that processed it all the
/// same ran it twice, one approval for two executions, and the receipt said executed once. The
/// gateway does not take that word: the backend's frames pass through here, and those two
/// signals reach the client as a plain reset (<c>CANCEL</c>) and as a <c>GOAWAY</c> that covers
/// every stream. A call so refused ends as one whose request went out: <c>outcome_unknown</c>.
/// Only the bytes of those two frame types are touched, in place, as they pass.
/// </summary>
internal sealed class NoResendHttp2Stream(Stream inner) : Stream
{
    private const byte RstStream = 0x3, GoAway = 0x7;
    private const byte RefusedStream = 0x7, Cancel = 0x8, Http11Required = 0xd;
    private const int FrameHeaderLength = 9;

    private readonly byte[] _frameHeader = new byte[FrameHeaderLength];
    private int _frameHeaderFilled;
    private int _payloadLeft;
    private int _payloadAt;
    private byte _frameType;
    // The error code's bytes seen so far (a frame may arrive split across reads).
    private int _errorCodeSoFar;

    /// <summary>For <see cref="SocketsHttpHandler.PlaintextStreamFilter"/>: HTTP/2 connections only (HTTP/1.1 never re-sends a request whose content it began to send).</summary>
    public static ValueTask<Stream> Filter(SocketsHttpPlaintextStreamFilterContext context, CancellationToken cancellationToken)
        => ValueTask.FromResult(context.NegotiatedHttpVersion.Major == 2 ? new NoResendHttp2Stream(context.PlaintextStream) : context.PlaintextStream);

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = inner.Read(buffer);
        Inspect(buffer[..read]);
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Inspect(buffer.Span[..read]);
        return read;
    }

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        => inner.WriteAsync(buffer, cancellationToken);

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>Follows the frames (a 9-byte header, then its payload) through what was read, rewriting in place.</summary>
    internal void Inspect(Span<byte> bytes)
    {
        var i = 0;
        while (i < bytes.Length)
        {
            if (_frameHeaderFilled < FrameHeaderLength)
            {
                var take = Math.Min(FrameHeaderLength - _frameHeaderFilled, bytes.Length - i);
                bytes.Slice(i, take).CopyTo(_frameHeader.AsSpan(_frameHeaderFilled));
                _frameHeaderFilled += take;
                i += take;
                if (_frameHeaderFilled == FrameHeaderLength)
                {
                    _payloadLeft = (_frameHeader[0] << 16) | (_frameHeader[1] << 8) | _frameHeader[2];
                    _frameType = _frameHeader[3];
                    _payloadAt = 0;
                    _errorCodeSoFar = 0;
                    if (_payloadLeft == 0)
                    {
                        _frameHeaderFilled = 0;
                    }
                }
                continue;
            }
            var chunk = Math.Min(_payloadLeft, bytes.Length - i);
            if (_frameType is RstStream or GoAway)
            {
                Rewrite(bytes.Slice(i, chunk));
            }
            _payloadAt += chunk;
            _payloadLeft -= chunk;
            i += chunk;
            if (_payloadLeft == 0)
            {
                _frameHeaderFilled = 0;
            }
        }
    }

    /// <summary>
    /// RST_STREAM: its error code (payload bytes 0–3), REFUSED_STREAM or HTTP_1_1_REQUIRED made
    /// CANCEL; only the last byte differs. GOAWAY: its last stream id (bytes 0–3) made the
    /// largest, so no stream reads as unprocessed; its error code (bytes 4–7), HTTP_1_1_REQUIRED,
    /// made CANCEL too.
    /// </summary>
    private void Rewrite(Span<byte> part)
    {
        var codeStart = _frameType == RstStream ? 0 : 4;
        for (var k = 0; k < part.Length; k++)
        {
            var at = _payloadAt + k;
            if (_frameType == GoAway && at < 4)
            {
                part[k] = at == 0 ? (byte)0x7f : (byte)0xff;
            }
            else if (at >= codeStart && at < codeStart + 4)
            {
                _errorCodeSoFar = (_errorCodeSoFar << 8) | part[k];
                if (at == codeStart + 3 && (_errorCodeSoFar is Http11Required || (_frameType == RstStream && _errorCodeSoFar is RefusedStream)))
                {
                    part[k] = Cancel;
                }
            }
        }
    }
}
