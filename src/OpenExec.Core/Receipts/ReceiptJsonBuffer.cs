using System.Buffers;
using System.Text.Json;

namespace OpenExec.Core.Receipts;

/// <summary>
/// Writes documents' JSON, byte for byte as <see cref="ReceiptDocument.ToJsonUtf8"/>, into one
/// buffer and one JSON writer that are reused: for a single thread that stores many documents
/// (a ledger's writer), so a stored receipt allocates no JSON buffer of its own. Not thread-safe.
/// </summary>
public sealed class ReceiptJsonBuffer : IDisposable
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _writer;

    public ReceiptJsonBuffer() => _writer = new Utf8JsonWriter(_buffer, ReceiptDocument.WriterOptions);

    /// <summary>The document's JSON; valid until the next call.</summary>
    public ReadOnlySpan<byte> Write(ReceiptDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        _buffer.ResetWrittenCount();
        _writer.Reset(_buffer);
        document.WriteTo(_writer);
        _writer.Flush();
        return _buffer.WrittenSpan;
    }

    public void Dispose() => _writer.Dispose();
}
