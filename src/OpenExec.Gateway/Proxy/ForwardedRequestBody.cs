namespace OpenExec.Gateway.Proxy;

/// <summary>
/// The agent's request body, held in a pooled buffer, as the forwarder reads it to send it on.
/// Each read is progress of the call (the backend took the bytes read before it), reported to
/// the call: a backend that reads a large body slowly holds its call longer than its
/// backend timeout, as a slow answer does, and its lease is renewed as the answer's bytes renew
/// it (reported to <see cref="IProgress"/>, not a delegate: one object less per call). Once disposed (when the forwarder is done, before the buffer goes back to the pool) a read
/// fails instead of sending bytes of whatever request rents the buffer next: a read and the
/// dispose never overlap.
/// </summary>
internal sealed class ForwardedRequestBody(ArraySegment<byte> body, ForwardedRequestBody.IProgress call) : Stream
{
    // Idle, Reading (a read copying out of the buffer) or Disposed: a read and the dispose never
    // overlap, the dispose waiting out a read in progress (a copy: short). A state word rather
    // than a lock object, one allocation less per call.
    private const int Idle = 0;
    private const int Reading = 1;
    private const int Disposed = 2;
    private int _state;
    private int _position;

    /// <summary>What a read reports its progress to (the call's answer, which renews the claim's lease).</summary>
    public interface IProgress
    {
        void Progressed();
    }

    /// <summary>Over what <paramref name="body"/> holds (its array: disposed before the buffer is).</summary>
    public static ForwardedRequestBody Over(OpenExec.Core.Buffers.PooledBufferWriter body, IProgress call)
        => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(body.WrittenMemory, out var segment)
            ? new ForwardedRequestBody(segment, call)
            : throw new InvalidOperationException("A pooled buffer is an array");

    public override bool CanRead => Volatile.Read(ref _state) != Disposed;

    public override bool CanSeek => Volatile.Read(ref _state) != Disposed;

    public override bool CanWrite => false;

    public override long Length => body.Count;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, body.Count);
            _position = (int)value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => body.Count + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        return _position;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var was = Interlocked.CompareExchange(ref _state, Reading, Idle);
        ObjectDisposedException.ThrowIf(was == Disposed, this);
        if (was == Reading)
        {
            throw new InvalidOperationException("The request body is read by one reader at a time");
        }
        int read;
        try
        {
            read = Math.Min(buffer.Length, body.Count - _position);
            body.AsSpan(_position, read).CopyTo(buffer);
            _position += read;
        }
        finally
        {
            Volatile.Write(ref _state, Idle);
        }
        call.Progressed();
        return read;
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<int>(cancellationToken);
        }
        try
        {
            return ValueTask.FromResult(Read(buffer.Span));
        }
        catch (ObjectDisposedException ex)
        {
            return ValueTask.FromException<int>(ex);
        }
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        var spin = default(SpinWait);
        while (Interlocked.CompareExchange(ref _state, Disposed, Idle) == Reading)
        {
            spin.SpinOnce();
        }
        base.Dispose(disposing);
    }
}
