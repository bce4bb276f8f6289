using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http.Features;
using OpenExec.Core.Buffers;
using OpenExec.Core.Crypto;
using OpenExec.Gateway.Http;
using OpenExec.Gateway.Pipeline;

namespace OpenExec.Gateway.Proxy;

/// <summary>
/// Stands in for the response body while a proxied call runs. Up to a limit the backend's answer
/// is held back, so that its receipt is written and named in <c>OpenExec-Receipt</c> before the
/// agent sees it. A larger or <c>text/event-stream</c> answer switches to streaming, which starts
/// the response (with <c>OpenExec-Exec-Id</c> only) and passes bytes straight on. Either way the
/// SHA-256 of every byte is computed for the receipt: in one pass over the held bytes, or
/// incrementally once streaming. The held bytes live in a pooled buffer, returned on dispose, or
/// as soon as they were passed on when the answer streams (a stream can run for hours and the
/// buffer can hold up to the limit).
/// Bytes arriving are the call's progress: they keep its claim's lease renewed, so a long answer
/// is never mistaken for a dead holder's. It is also the request lifetime (and stream reset) the
/// forwarder sees: the forwarder's abort is remembered and carried out once the receipt is
/// written (<see cref="CutAgent"/>).
/// </summary>
internal sealed class ReceiptedResponseBody : Stream, IHttpResponseBodyFeature, ForwardedRequestBody.IProgress, IHttpRequestLifetimeFeature, IHttpResetFeature
{
    /// <summary>The gateway's own answer headers (SPEC section 5).</summary>
    public const string ExecIdHeader = "OpenExec-Exec-Id";

    public const string ReceiptHeader = "OpenExec-Receipt";

    private readonly IHttpResponseBodyFeature _inner;
    private readonly HttpResponse _response;
    private readonly ExecutionTicket _ticket;
    private readonly ExecutionPipeline _pipeline;
    private readonly long _limit;
    private readonly CancellationToken _agentGone;
    // UTC ticks: the request body's reads, the answer's head and its writes may come on different threads.
    private long _leaseRenewedAt;
    // Created only when the answer streams: a held answer is hashed in one call, which spares
    // every ordinary call a native hash context (and its finalizable handle).
    private IncrementalHash? _hash;
    private readonly PooledBufferWriter _held = new(4096);
    private PooledBufferWriter? _buffer;
    private PipeWriter? _writer;

    /// <param name="agentGone">The agent's own connection lifetime: once the answer streams, an agent
    /// that hung up ends the call (the stream broke: outcome_unknown) rather than leave it pulling
    /// the backend's answer for nobody for as long as the backend goes on.</param>
    public ReceiptedResponseBody(IHttpResponseBodyFeature inner, HttpResponse response, ExecutionTicket ticket, ExecutionPipeline pipeline, long limit, CancellationToken agentGone = default)
    {
        _agentGone = agentGone;
        _inner = inner;
        _response = response;
        _ticket = ticket;
        _pipeline = pipeline;
        _leaseRenewedAt = ticket.StartedAt.UtcTicks;
        _limit = limit;
        _buffer = _held;
    }

    /// <summary>True once the answer is streaming to the agent (no receipt header possible).</summary>
    public bool Streaming => _buffer is null;

    public long Length64 { get; private set; }

    /// <summary>
    /// The backend's status, once its answer's head arrived and its body began (the forwarder
    /// starts, flushes or writes the body only then): what the receipt records if the answer then
    /// breaks off, after the forwarder has put its own 502 in the response's place.
    /// </summary>
    public int? BackendStatus { get; private set; }

    /// <summary>
    /// The answer's head arrived with <paramref name="status"/>, before its headers are copied: a
    /// head the agent cannot be given (one declaring two different lengths) still leaves the
    /// status the backend answered with for the receipt, as through <c>/execute</c>.
    /// </summary>
    public void HeadArrived(int status) => BackendStatus ??= status;

    /// <summary>When the claim's lease was last renewed (its start until the first renewal).</summary>
    public DateTimeOffset LeaseRenewedAt => new(Interlocked.Read(ref _leaseRenewedAt), TimeSpan.Zero);

    /// <summary>
    /// The call made progress: the backend took more of the request body, its answer's head
    /// arrived, or more of its answer. A call is ended by its backend timeout only after that
    /// long without progress, so renewing the claim's lease on each (at most every
    /// <see cref="ExecutionPipeline.LeaseRenewal"/>) keeps it ahead of any live call. Renewing on
    /// the answer's bytes alone let a head that came late and a body that came later still (each
    /// within the timeout) outrun a lease of the timeout + 30 s: a live call was taken over as
    /// outcome_unknown.
    /// </summary>
    public void Progressed()
    {
        var seen = Interlocked.Read(ref _leaseRenewedAt);
        var renewedAt = new DateTimeOffset(seen, TimeSpan.Zero);
        if (_pipeline.LeaseRenewalDue(ref renewedAt) && Interlocked.CompareExchange(ref _leaseRenewedAt, renewedAt.UtcTicks, seen) == seen)
        {
            // Not awaited: the call's bytes do not wait for the store.
            _ = _pipeline.RenewLeaseAsync(_ticket);
        }
    }

    /// <summary>Whether the call may still be sent (<see cref="ExecutionPipeline.MaySend"/>).</summary>
    public bool MaySend() => _pipeline.MaySend(_ticket);

    /// <summary>Bytes of pooled memory this body holds for the answer held back.</summary>
    internal int HeldCapacity => _held.Capacity;

    public ReadOnlyMemory<byte> Buffered => _buffer is null ? ReadOnlyMemory<byte>.Empty : _buffer.WrittenMemory;

    /// <summary>SHA-256 of every byte the backend sent.</summary>
    public Sha256Digest Sha256()
    {
        if (_hash is null)
        {
            return Sha256Digest.Of(_held.WrittenSpan);
        }
        Span<byte> digest = stackalloc byte[Sha256Digest.Size];
        _hash.GetHashAndReset(digest);
        return Sha256Digest.FromBytes(digest);
    }

    /// <summary>
    /// A 204 or 205 reaches the agent without the length its backend may have declared (Kestrel
    /// refuses to start one that carries it: an InvalidOperationException, a 500, after an
    /// executed receipt). Its bytes, and a 304's, were never held (<see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
    /// drops them), so the receipt hashes what the agent gets: no bytes. Called before the answer
    /// is hashed.
    /// </summary>
    public void FitBodylessStatus()
    {
        if (_buffer is not null && _response.StatusCode is 204 or 205)
        {
            _response.ContentLength = null;
        }
    }

    /// <summary>
    /// Whether the body that came is the one the backend's head announced. A declared
    /// Content-Length the body does not match makes the answer malformed, so incomplete (RFC 9113
    /// section 8.1.1; over HTTP/2 HttpClient does not check it, over HTTP/1.1 a short body already
    /// fails). A bodyless answer (to a HEAD; a 204, 205 or 304) declares a length it never sends.
    /// </summary>
    public bool MatchesDeclaredLength(string method)
        => BackendDelivery.WholeAnswer(_response.ContentLength, _response.StatusCode, HttpMethods.IsHead(method), Length64);

    /// <summary>Forgets what the backend sent (the gateway answers with its own problem instead).</summary>
    public void DiscardBuffered() => _buffer?.Clear();

    Stream IHttpResponseBodyFeature.Stream => this;

    PipeWriter IHttpResponseBodyFeature.Writer => _writer ??= PipeWriter.Create(this, new StreamPipeWriterOptions(leaveOpen: true));

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public void DisableBuffering() => _inner.DisableBuffering();

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        BackendStatus ??= _response.StatusCode;
        return Streaming ? _inner.StartAsync(cancellationToken) : Task.CompletedTask;
    }

    public Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        => throw new NotSupportedException("Proxied answers are not files");

    public async Task CompleteAsync()
    {
        if (_writer is not null)
        {
            await _writer.FlushAsync().ConfigureAwait(false);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        BackendStatus ??= _response.StatusCode;
        Length64 += buffer.Length;
        Progressed();
        if (_buffer is not null)
        {
            if (IsBodylessStatus())
            {
                // A 204, 205 or 304 never starts streaming (Kestrel refuses a body, or a length,
                // for it): its bytes are dropped here, and FitBodylessStatus fits the head.
                return;
            }
            if (!IsEventStream() && _buffer.WrittenCount + buffer.Length <= _limit)
            {
                _buffer.Write(buffer.Span);
                return;
            }
            await SwitchToStreamingAsync(cancellationToken).ConfigureAwait(false);
        }
        if (_agentGone.IsCancellationRequested)
        {
            // Kestrel drops writes to a closed connection without an error: say so, so that the
            // forwarder ends the call as a broken answer (ResponseBodyClient).
            throw new IOException("The agent closed its connection while the answer streamed");
        }
        _hash!.AppendData(buffer.Span);
        await _inner.Stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        BackendStatus ??= _response.StatusCode;
        if (_buffer is not null && IsEventStream() && !IsBodylessStatus())
        {
            return SwitchToStreamingAsync(cancellationToken);
        }
        return Streaming ? _inner.Stream.FlushAsync(cancellationToken) : Task.CompletedTask;
    }

    /// <summary>Sends what was held back, named by its receipt.</summary>
    public async Task ReleaseAsync(string receipt, CancellationToken cancellationToken)
    {
        if (_buffer is null)
        {
            return;
        }
        var held = Buffered;
        _buffer = null;
        WriteGatewayHeaders(receipt);
        if (held.Length > 0)
        {
            _response.ContentLength = held.Length;
        }
        await _inner.StartAsync(cancellationToken).ConfigureAwait(false);
        // A bodyless answer (204, 304, a HEAD's) keeps the backend's headers as they were,
        // Content-Length included, and gets no body written.
        if (held.Length > 0)
        {
            await _inner.Stream.WriteAsync(held, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The gateway's own headers, set as the answer starts: whatever the backend sent under these
    /// names (the forwarder adds its headers to the ones already set) never reaches the agent.
    /// </summary>
    private void WriteGatewayHeaders(string? receipt)
    {
        _response.Headers[ExecIdHeader] = _ticket.ExecId;
        if (receipt is null)
        {
            _response.Headers.Remove(ReceiptHeader);
        }
        else
        {
            _response.Headers[ReceiptHeader] = receipt;
        }
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private bool IsBodylessStatus() => _response.StatusCode is 204 or 205 or 304;

    private bool IsEventStream()
        => _response.ContentType?.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase) == true;

    private async Task SwitchToStreamingAsync(CancellationToken cancellationToken)
    {
        var held = Buffered;
        _buffer = null;
        _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        _hash.AppendData(held.Span);
        WriteGatewayHeaders(receipt: null);
        await _inner.StartAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (held.Length > 0)
            {
                await _inner.Stream.WriteAsync(held, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            // Passed on (or the agent is gone): nothing reads the held bytes again.
            _held.Dispose();
        }
        await _inner.Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash?.Dispose();
            _held.Dispose();
        }
        base.Dispose(disposing);
    }

    // The request lifetime the forwarder is given in place of the agent's (one object per call
    // with the answer it writes here): the agent's disconnect does not cancel the call, and the
    // forwarder's abort (a backend that broke off its answer) is remembered and carried out once
    // the receipt is written. Over HTTP/1.1 the forwarder aborts the connection, over HTTP/2 and
    // HTTP/3 it resets the stream (IHttpResetFeature), so both stand in here.

    /// <summary>Never cancelled: a forwarded call runs to its end (see above).</summary>
    public CancellationToken RequestAborted { get; set; } = CancellationToken.None;

    /// <summary>True once the forwarder asked to abort the agent's connection or reset its stream.</summary>
    public bool AbortRequested { get; private set; }

    /// <summary>The stream reset the forwarder asked for, when it reset rather than aborted.</summary>
    public int? ResetCode { get; private set; }

    /// <summary>The forwarder's abort, remembered (<see cref="CutAgent"/> carries it out).</summary>
    public void Abort() => AbortRequested = true;

    /// <summary>The forwarder's stream reset, remembered.</summary>
    public void Reset(int errorCode)
    {
        AbortRequested = true;
        ResetCode = errorCode;
    }

    /// <summary>Carries out the cut the forwarder asked for, on the agent's own features.</summary>
    public void CutAgent(IHttpRequestLifetimeFeature? lifetime, IHttpResetFeature? reset)
    {
        if (ResetCode is { } code && reset is not null)
        {
            reset.Reset(code);
        }
        else
        {
            lifetime?.Abort();
        }
    }
}
