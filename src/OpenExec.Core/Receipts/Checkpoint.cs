using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using NSec.Cryptography;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;

namespace OpenExec.Core.Receipts;

/// <summary>
/// A signed statement of a chain's head (<c>GET /receipts/head</c>), for an outside witness to
/// keep: a chain alone cannot show that its tail was cut. The signature is base64url Ed25519
/// over the JCS of <c>{gateway, seq, hash, timestamp}</c>.
/// </summary>
public sealed record Checkpoint(string Gateway, long Seq, string Hash, string Timestamp, string Kid, string Signature)
{
    private static readonly string[] Keys = ["gateway", "seq", "hash", "timestamp", "kid", "signature"];

    public static Checkpoint Sign(ReceiptSigningKey key, string gateway, long seq, string hash, DateTimeOffset timestamp)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(gateway);
        ArgumentNullException.ThrowIfNull(hash);
        var stamp = ReceiptTime.Format(timestamp);
        var signature = key.Sign(SignedBytes(gateway, seq, hash, stamp));
        return new Checkpoint(gateway, seq, hash, stamp, key.Kid, Base64Url.Encode(signature));
    }

    /// <summary>True when the key named by <see cref="Kid"/> signed these four fields.</summary>
    public bool Verify(Func<string, PublicKey?> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return ReceiptVerifier.VerifySignature(Kid, Signature, SignedBytes(Gateway, Seq, Hash, Timestamp), keys);
    }

    public string ToJson()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("gateway", Gateway);
            writer.WriteNumber("seq", Seq);
            writer.WriteString("hash", Hash);
            writer.WriteString("timestamp", Timestamp);
            writer.WriteString("kid", Kid);
            writer.WriteString("signature", Signature);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public StrictObject ToStrictValue() => new(
    [
        new("gateway", new StrictString(Gateway)),
        new("seq", new StrictNumber(Seq.ToString(CultureInfo.InvariantCulture))),
        new("hash", new StrictString(Hash)),
        new("timestamp", new StrictString(Timestamp)),
        new("kid", new StrictString(Kid)),
        new("signature", new StrictString(Signature)),
    ]);

    public static Checkpoint Parse(StrictValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is not StrictObject obj || obj.Count != Keys.Length || Keys.Any(k => !obj.TryGet(k, out _)))
        {
            throw new ReceiptFormatException("Invalid checkpoint: expected exactly gateway, seq, hash, timestamp, kid and signature.");
        }
        obj.TryGet("seq", out var seqValue);
        // A chain position, as a receipt's seq: 0 (an empty chain) up to 2^53 - 1, beyond which
        // JCS (and every reader that takes JSON numbers as doubles) would sign another number.
        if (seqValue is not StrictNumber { IsInteger: true } n
            || !long.TryParse(n.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var seq)
            || seq is < 0 or > ReceiptBody.MaxSafeInteger)
        {
            throw new ReceiptFormatException("Invalid checkpoint: seq must be an integer from 0 to 2^53 - 1.");
        }
        return new Checkpoint(Text(obj, "gateway"), seq, Text(obj, "hash"), Text(obj, "timestamp"), Text(obj, "kid"), Text(obj, "signature"));
    }

    private static byte[] SignedBytes(string gateway, long seq, string hash, string timestamp) => Jcs.Serialize(new StrictObject(
    [
        new("gateway", new StrictString(gateway)),
        new("seq", new StrictNumber(seq.ToString(CultureInfo.InvariantCulture))),
        new("hash", new StrictString(hash)),
        new("timestamp", new StrictString(timestamp)),
    ]));

    private static string Text(StrictObject obj, string key)
    {
        obj.TryGet(key, out var value);
        return value is StrictString s ? s.Value : throw new ReceiptFormatException($"Invalid checkpoint: {key} must be a string.");
    }
}
