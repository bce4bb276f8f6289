using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenExec.Core.Json;

namespace OpenExec.Core.Receipts;

/// <summary>Where a receipt sits in its signing batch: the Merkle tree size, its leaf index and the inclusion path (hex).</summary>
public sealed record ReceiptBatch(int Size, int Index, IReadOnlyList<string> Path);

/// <summary>
/// A receipt as served and verified (SPEC section 6): the body, its hash, its place in the
/// signing batch, and the key id and signature over the batch root. Verifies alone, offline.
/// </summary>
public sealed record ReceiptDocument(ReceiptBody Body, string Hash, ReceiptBatch Batch, string Kid, string Signature)
{
    private static readonly string[] Keys = ["body", "hash", "batch", "kid", "signature"];
    private static readonly string[] BatchKeys = ["size", "index", "path"];

    // Relaxed escaping: the document is served as application/json, never embedded in HTML.
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public string ToJson() => Encoding.UTF8.GetString(ToJsonUtf8());

    /// <summary>JSON in the order body, hash, batch {size, index, path}, kid, signature.</summary>
    public byte[] ToJsonUtf8()
    {
        // Written into a pooled buffer: the only allocation left is the exact-size result.
        using var buffer = new Buffers.PooledBufferWriter(4096);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteTo(writer);
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes the document as one JSON object, e.g. inside a larger answer.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WritePropertyName("body");
        WriteBody(writer, Body);
        writer.WriteString("hash", Hash);
        writer.WriteStartObject("batch");
        writer.WriteNumber("size", Batch.Size);
        writer.WriteNumber("index", Batch.Index);
        writer.WriteStartArray("path");
        if (Batch.Path is HexPath computed)
        {
            computed.WriteTo(writer);
        }
        else
        {
            foreach (var node in Batch.Path)
            {
                writer.WriteStringValue(node);
            }
        }
        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteString("kid", Kid);
        writer.WriteString("signature", Signature);
        writer.WriteEndObject();
    }

    public StrictObject ToStrictValue() => new(
    [
        new("body", Body.ToStrictValue()),
        new("hash", new StrictString(Hash)),
        new("batch", new StrictObject(
        [
            new("size", new StrictNumber(Batch.Size.ToString(CultureInfo.InvariantCulture))),
            new("index", new StrictNumber(Batch.Index.ToString(CultureInfo.InvariantCulture))),
            new("path", new StrictArray([.. Batch.Path.Select(p => (StrictValue)new StrictString(p))])),
        ])),
        new("kid", new StrictString(Kid)),
        new("signature", new StrictString(Signature)),
    ]);

    /// <summary>
    /// Reads a document's shape; throws <see cref="ReceiptFormatException"/> naming the wrong
    /// field. Hex and base64url contents are not checked here: a bad value makes the relevant
    /// verification check false instead.
    /// </summary>
    public static ReceiptDocument Parse(StrictValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var obj = ExactObject(value, Keys, "receipt document");
        obj.TryGet("body", out var body);
        obj.TryGet("batch", out var batchValue);
        var batch = ExactObject(batchValue, BatchKeys, "receipt batch");
        batch.TryGet("path", out var pathValue);
        if (pathValue is not StrictArray pathArray)
        {
            throw new ReceiptFormatException("Invalid receipt document: batch.path must be an array of hex strings.");
        }
        var path = new string[pathArray.Items.Count];
        for (var i = 0; i < path.Length; i++)
        {
            path[i] = pathArray.Items[i] is StrictString s
                ? s.Value
                : throw new ReceiptFormatException("Invalid receipt document: batch.path must be an array of hex strings.");
        }
        return new ReceiptDocument(
            ReceiptBody.FromStrictValue(body),
            String(obj, "hash"),
            new ReceiptBatch(Int(batch, "size"), Int(batch, "index"), path),
            String(obj, "kid"),
            String(obj, "signature"));
    }

    internal static void WriteBody(Utf8JsonWriter writer, ReceiptBody body)
    {
        writer.WriteStartObject();
        writer.WriteNumber("v", body.V);
        writer.WriteString("exec_id", body.ExecId);
        writer.WriteString("gateway", body.Gateway);
        writer.WriteNumber("seq", body.Seq);
        writer.WriteString("prev", body.Prev);
        writer.WriteString("tenant", body.Tenant);
        writer.WriteString("action", body.Action);
        writer.WriteString("mode", body.Mode);
        body.WriteJsonMember(writer, "nonce_sha256", ReceiptBody.Given.Nonce);
        body.WriteJsonMember(writer, "request_sha256", ReceiptBody.Given.Request);
        writer.WriteString("approval_sha256", body.ApprovalSha256);
        writer.WriteString("approval_id", body.ApprovalId);
        writer.WriteString("decision", body.Decision);
        writer.WriteString("code", body.Code);
        body.WriteJsonMember(writer, "result_sha256", ReceiptBody.Given.Result);
        writer.WriteString("result_form", body.ResultForm);
        if (body.UpstreamStatus is { } status)
        {
            writer.WriteNumber("upstream_status", status);
        }
        else
        {
            writer.WriteNull("upstream_status");
        }
        body.WriteJsonMember(writer, "started_at", ReceiptBody.Given.Started);
        body.WriteJsonMember(writer, "finished_at", ReceiptBody.Given.Finished);
        body.WriteJsonMember(writer, "trace_id", ReceiptBody.Given.Trace);
        writer.WriteEndObject();
    }

    private static StrictObject ExactObject(StrictValue value, string[] keys, string what)
    {
        if (value is not StrictObject obj)
        {
            throw new ReceiptFormatException($"Invalid {what}: expected a JSON object.");
        }
        foreach (var property in obj.Properties)
        {
            if (Array.IndexOf(keys, property.Key) < 0)
            {
                throw new ReceiptFormatException($"Invalid {what}: unknown field '{property.Key}'.");
            }
        }
        foreach (var key in keys)
        {
            if (!obj.TryGet(key, out _))
            {
                throw new ReceiptFormatException($"Invalid {what}: missing field '{key}'.");
            }
        }
        return obj;
    }

    private static string String(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictString s ? s.Value : throw new ReceiptFormatException($"Invalid receipt document: field '{key}' must be a string.");
    }

    private static int Int(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictNumber { IsInteger: true } n
            && int.TryParse(n.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
            && result >= 0
                ? result
                : throw new ReceiptFormatException($"Invalid receipt document: batch.{key} must be a non-negative integer.");
    }
}
