using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Text;

namespace OpenExec.Core.Approvals;

/// <summary>
/// A ClawShield v1 approval artifact (SPEC section 4), its fields exactly as received. Parsing
/// checks only the shape; authenticity, tenant, action hash and time window are later steps.
/// </summary>
/// <remarks>
/// Read from an <c>OpenExec-Approval</c> header whose strings have no escapes (as ClawShield
/// writes them), the artifact keeps its signed message as received and its decoded signature, in
/// one array, instead of six strings: checking it (signature, identity, action hash, time window)
/// reads those bytes, and a field's string is made only when asked for (the approval id and tenant,
/// which receipts name). <c>with</c> gives an artifact of strings again.
/// </remarks>
public sealed record ApprovalArtifact
{
    private static readonly string[] FieldNames = ["approval_id", "tenant_id", "action_hash", "issued_at", "expires_at", "signature"];

    /// <summary>Hex digits of either case, as bytes and as characters.</summary>
    private static readonly SearchValues<byte> HexBytes = SearchValues.Create("0123456789abcdefABCDEF"u8);
    private static readonly SearchValues<char> HexChars = SearchValues.Create("0123456789abcdefABCDEF");

    // Received: the signed message (the five fields' UTF-8 as they stood in the JSON, in order),
    // then the signature's SignatureLength decoded bytes; where each field ends. Null otherwise.
    private byte[]? _received;
    private FieldEnds _ends;
    private string? _approvalId, _tenantId, _actionHash, _issuedAt, _expiresAt, _signature;

    public ApprovalArtifact(string approvalId, string tenantId, string actionHash, string issuedAt, string expiresAt, string signature)
    {
        ApprovalId = approvalId;
        TenantId = tenantId;
        ActionHash = actionHash;
        IssuedAt = issuedAt;
        ExpiresAt = expiresAt;
        Signature = signature;
    }

    private ApprovalArtifact(byte[] received, FieldEnds ends, string approvalId)
    {
        _received = received;
        _ends = ends;
        _approvalId = approvalId;
    }

    public string ApprovalId { get => _approvalId ??= Text(Field.ApprovalId); init => Set(ref _approvalId, value); }

    public string TenantId { get => _tenantId ??= Text(Field.TenantId); init => Set(ref _tenantId, value); }

    public string ActionHash { get => _actionHash ??= Text(Field.ActionHash); init => Set(ref _actionHash, value); }

    public string IssuedAt { get => _issuedAt ??= Text(Field.IssuedAt); init => Set(ref _issuedAt, value); }

    public string ExpiresAt { get => _expiresAt ??= Text(Field.ExpiresAt); init => Set(ref _expiresAt, value); }

    public string Signature
    {
        get => _signature ??= Convert.ToBase64String(_received.AsSpan(_ends[Field.ExpiresAt], SignatureLength));
        init => Set(ref _signature, value);
    }

    private enum Field
    {
        ApprovalId,
        TenantId,
        ActionHash,
        IssuedAt,
        ExpiresAt,
    }

    /// <summary>Where each of the five signed fields ends in the received bytes (the last: the message's length).</summary>
    [System.Runtime.CompilerServices.InlineArray(5)]
    private struct FieldEnds
    {
        private int _first;

        public int this[Field field]
        {
            readonly get => this[(int)field];
            set => this[(int)field] = value;
        }
    }

    private int Start(Field field) => field == Field.ApprovalId ? 0 : _ends[field - 1];

    private ReadOnlySpan<byte> Bytes(Field field) => _received.AsSpan(Start(field), _ends[field] - Start(field));

    private string Text(Field field) => Encoding.UTF8.GetString(Bytes(field));

    /// <summary>A changed field makes the artifact one of strings: every field's string first, then the bytes dropped.</summary>
    private void Set(ref string? field, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (_received is not null)
        {
            _ = (ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt, Signature);
            _received = null;
        }
        field = value;
    }

    /// <summary>The same six fields (however each is held).</summary>
    public bool Equals(ApprovalArtifact? other)
        => other is not null
            && ApprovalId == other.ApprovalId && TenantId == other.TenantId && ActionHash == other.ActionHash
            && IssuedAt == other.IssuedAt && ExpiresAt == other.ExpiresAt && Signature == other.Signature;

    public override int GetHashCode() => HashCode.Combine(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt, Signature);

    /// <summary>
    /// A field's characters: in <paramref name="scratch"/> when the field is received bytes that
    /// fit, else its string's.
    /// </summary>
    private ReadOnlySpan<char> Chars(Field field, Span<char> scratch)
    {
        if (_received is not null && Bytes(field) is var bytes && bytes.Length <= scratch.Length)
        {
            return scratch[..Encoding.UTF8.GetChars(bytes, scratch)];
        }
        return field switch
        {
            Field.ApprovalId => ApprovalId,
            Field.TenantId => TenantId,
            Field.ActionHash => ActionHash,
            Field.IssuedAt => IssuedAt,
            _ => ExpiresAt,
        };
    }

    /// <summary>Whether action_hash is exactly the lowercase hex of <paramref name="digest"/>.</summary>
    public bool ActionHashIs(Sha256Digest digest)
    {
        Span<char> scratch = stackalloc char[Sha256Digest.HexLength];
        return Sha256Digest.TryParseHex(Chars(Field.ActionHash, scratch), out var hash) && hash == digest;
    }

    /// <summary>Whether tenant_id is exactly <paramref name="tenant"/> (read from the kept bytes, no string made).</summary>
    public bool TenantIs(string tenant)
    {
        ArgumentNullException.ThrowIfNull(tenant);
        Span<char> scratch = stackalloc char[TenantScratch];
        return Chars(Field.TenantId, scratch).SequenceEqual(tenant);
    }

    /// <summary>Characters a tenant_id is compared in without a string (a longer one makes its string).</summary>
    private const int TenantScratch = 256;

    /// <summary>issued_at or expires_at as written (empty when absent), for <see cref="ApprovalTime"/>.</summary>
    internal ReadOnlySpan<char> TimeText(bool expires, Span<char> scratch) => Chars(expires ? Field.ExpiresAt : Field.IssuedAt, scratch);

    /// <summary>
    /// The signature's bytes into <paramref name="destination"/> (<see cref="DecodedSignatureSpace"/>
    /// bytes; the signature is its first <see cref="SignatureLength"/>); false when the signature
    /// is not standard base64 of that many bytes.
    /// </summary>
    internal bool TryGetSignature(Span<byte> destination)
    {
        if (_received is not null)
        {
            _received.AsSpan(_ends[Field.ExpiresAt], SignatureLength).CopyTo(destination);
            return true;
        }
        return TryDecodeSignature(Signature, destination);
    }

    /// <summary>Length of an Ed25519 signature.</summary>
    public const int SignatureLength = 64;

    /// <summary>
    /// The approval's identity: lowercase hex SHA-256 of the signed message. Not
    /// <see cref="ApprovalId"/>: the v1 message has no separators, so characters can move between
    /// approval_id and tenant_id with the signature still valid, and such a re-cut artifact must
    /// count as the same, already used, approval (SPEC section 3).
    /// </summary>
    public string Identity => IdentityOf(SignedMessage());

    /// <summary><see cref="Identity"/> from a signed message already made with <see cref="SignedMessage"/>.</summary>
    public static string IdentityOf(ReadOnlySpan<byte> signedMessage) => Hex.Sha256(signedMessage);

    /// <summary>The v1 signed message: UTF-8 of approval_id + tenant_id + action_hash + issued_at + expires_at.</summary>
    public byte[] SignedMessage()
    {
        var message = new byte[SignedMessageLength()];
        WriteSignedMessage(message);
        return message;
    }

    /// <summary>Characters of a signature in standard base64, padding included (88).</summary>
    private const int EncodedSignatureLength = (SignatureLength + 2) / 3 * 4;

    /// <summary>What a signature's 88 characters decode into at most (its 64 bytes and 2 of padding).</summary>
    internal const int DecodedSignatureSpace = EncodedSignatureLength / 4 * 3;

    /// <summary>Standard base64 of <see cref="SignatureLength"/> bytes, read without an array.</summary>
    internal static bool IsSignature(string text)
    {
        Span<byte> decoded = stackalloc byte[DecodedSignatureSpace];
        return TryDecodeSignature(text, decoded);
    }

    /// <summary>
    /// Decodes a signature into <paramref name="decoded"/> (<see cref="DecodedSignatureSpace"/>
    /// bytes; the signature is its first <see cref="SignatureLength"/>). Any other length is no
    /// signature and is not decoded at all.
    /// </summary>
    internal static bool TryDecodeSignature(ReadOnlySpan<char> text, Span<byte> decoded)
        => text.Length == EncodedSignatureLength
            && StrictBase64.TryDecode(text, decoded, out var written)
            && written == SignatureLength;

    /// <summary>The length of <see cref="SignedMessage"/>.</summary>
    public int SignedMessageLength()
        => _received is not null ? _ends[Field.ExpiresAt]
            : HasAnySurrogate()
            ? Encoding.UTF8.GetByteCount(string.Concat(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt))
            : Encoding.UTF8.GetByteCount(ApprovalId) + Encoding.UTF8.GetByteCount(TenantId) + Encoding.UTF8.GetByteCount(ActionHash) + Encoding.UTF8.GetByteCount(IssuedAt) + Encoding.UTF8.GetByteCount(ExpiresAt);

    /// <summary>Writes <see cref="SignedMessage"/> into <paramref name="destination"/>, <see cref="SignedMessageLength"/> bytes.</summary>
    public void WriteSignedMessage(Span<byte> destination)
    {
        if (_received is not null)
        {
            _received.AsSpan(0, _ends[Field.ExpiresAt]).CopyTo(destination);
            return;
        }
        var utf8 = Encoding.UTF8;
        if (HasAnySurrogate())
        {
            // Halves of a surrogate pair split across two fields join when concatenated: encode
            // the concatenation, exactly as the message is defined.
            utf8.GetBytes(string.Concat(ApprovalId, TenantId, ActionHash, IssuedAt, ExpiresAt), destination);
            return;
        }
        // Otherwise each field is encoded straight into the one result, no string in between.
        var at = utf8.GetBytes(ApprovalId, destination);
        at += utf8.GetBytes(TenantId, destination[at..]);
        at += utf8.GetBytes(ActionHash, destination[at..]);
        at += utf8.GetBytes(IssuedAt, destination[at..]);
        utf8.GetBytes(ExpiresAt, destination[at..]);
    }

    private bool HasAnySurrogate()
        => HasSurrogate(ApprovalId) || HasSurrogate(TenantId) || HasSurrogate(ActionHash) || HasSurrogate(IssuedAt) || HasSurrogate(ExpiresAt);

    private static bool HasSurrogate(string field) => CharRange.ContainsAnyIn(field, '\uD800', '\uDFFF');

    /// <summary>Reads the artifact from the parsed request; throws <see cref="ApprovalFormatException"/> on any other shape.</summary>
    /// <param name="value">The artifact JSON.</param>
    /// <param name="anyApprovalId">
    /// Accept any <c>approval_id</c>, not only a UUID. The v1 message has no separators, so only an
    /// approval_id of fixed form fixes where tenant_id begins: with any id, an approval for tenant
    /// <c>eu-tenant-001</c> re-cut as approval_id + <c>"eu-"</c> and tenant <c>tenant-001</c> keeps
    /// its signature and passes a gateway pinned to <c>tenant-001</c>.
    /// </param>
    public static ApprovalArtifact Parse(StrictValue value, bool anyApprovalId = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value is not StrictObject obj)
        {
            throw new ApprovalFormatException("Invalid approval artifact: expected a JSON object.");
        }
        for (var i = 0; i < obj.Properties.Count; i++)
        {
            var property = obj.Properties[i];
            if (Array.IndexOf(FieldNames, property.Key) < 0)
            {
                throw new ApprovalFormatException($"Invalid approval artifact: unknown field '{InputText.Abbreviate(property.Key)}'.");
            }
        }

        return Checked(
            Required(OptionalString(obj, "approval_id"), "approval_id"),
            Required(OptionalString(obj, "tenant_id"), "tenant_id"),
            Required(OptionalString(obj, "action_hash"), "action_hash"),
            OptionalString(obj, "issued_at"),
            OptionalString(obj, "expires_at"),
            Required(OptionalString(obj, "signature"), "signature"),
            anyApprovalId);
    }

    /// <summary>
    /// The artifact from its fields, each as the JSON gave it (null where absent, read in this
    /// order, so the first missing one is named), once their shapes are checked.
    /// </summary>
    private static ApprovalArtifact Checked(string approvalId, string tenantId, string actionHash, string? issuedAt, string? expiresAt, string signature, bool anyApprovalId)
    {
        // A missing timestamp reads as empty, which the time-window check (step 5) refuses with the
        // seed's sentence (SPEC section 4): "Missing expires_at in approval artifact".
        issuedAt ??= "";
        expiresAt ??= "";
        CheckApprovalId(approvalId, anyApprovalId);
        // Any-case hex passes the shape check; the later comparison with the (lowercase) request
        // hash is exact, so an upper-case hash is refused there as a mismatch.
        CheckActionHash(actionHash.Length == Sha256Digest.HexLength && !actionHash.AsSpan().ContainsAnyExcept(HexChars));
        CheckSignature(IsSignature(signature));
        return new ApprovalArtifact(approvalId, tenantId, actionHash, issuedAt, expiresAt, signature);
    }

    private static void CheckApprovalId(string approvalId, bool anyApprovalId)
    {
        if (!anyApprovalId && !IsUuid(approvalId))
        {
            throw new ApprovalFormatException("Invalid approval artifact: approval_id must be a UUID (8-4-4-4-12 hex digits): its fixed length is what tells approval_id and tenant_id apart in the signed message.");
        }
    }

    private static void CheckActionHash(bool hexDigits)
    {
        if (!hexDigits)
        {
            throw new ApprovalFormatException("Invalid approval artifact: action_hash must be 64 hex characters.");
        }
    }

    private static void CheckSignature(bool isSignature)
    {
        if (!isSignature)
        {
            throw new ApprovalFormatException("Invalid approval artifact: signature must be standard base64 of a 64-byte Ed25519 signature.");
        }
    }

    /// <summary>
    /// The artifact from the header's JSON, whose strings have no escapes (<paramref name="ranges"/>:
    /// where each field's text stands in <paramref name="json"/>, in <see cref="FieldNames"/>' order),
    /// checked as <see cref="Checked"/> checks one of strings: the signed message is those bytes as
    /// they stand (UTF-8 of each field, a valid document's strings never splitting a character).
    /// </summary>
    private static ApprovalArtifact Received(ReadOnlySpan<byte> json, ReadOnlySpan<Range> ranges, bool anyApprovalId)
    {
        for (var i = 0; i < FieldNames.Length; i++)
        {
            // Present (a range past 0), or a timestamp, which reads as empty when absent.
            if (ranges[i].End.Value == 0 && i is not ((int)Field.IssuedAt or (int)Field.ExpiresAt))
            {
                throw new ApprovalFormatException($"Invalid approval artifact: missing field '{FieldNames[i]}'.");
            }
        }
        var approvalId = Encoding.UTF8.GetString(json[ranges[(int)Field.ApprovalId]]);
        CheckApprovalId(approvalId, anyApprovalId);
        var actionHash = json[ranges[(int)Field.ActionHash]];
        CheckActionHash(actionHash.Length == Sha256Digest.HexLength && !actionHash.ContainsAnyExcept(HexBytes));
        var ends = default(FieldEnds);
        var length = 0;
        for (var field = Field.ApprovalId; field <= Field.ExpiresAt; field++)
        {
            length += json[ranges[(int)field]].Length;
            ends[field] = length;
        }
        var received = new byte[length + DecodedSignatureSpace];
        var signature = json[ranges[^1]];
        Span<char> chars = stackalloc char[EncodedSignatureLength];
        CheckSignature(signature.Length == EncodedSignatureLength
            && System.Text.Ascii.ToUtf16(signature, chars, out _) == OperationStatus.Done
            && TryDecodeSignature(chars, received.AsSpan(length)));
        for (var field = Field.ApprovalId; field <= Field.ExpiresAt; field++)
        {
            json[ranges[(int)field]].CopyTo(received.AsSpan(field == Field.ApprovalId ? 0 : ends[field - 1]));
        }
        return new ApprovalArtifact(received, ends, approvalId);
    }

    /// <summary>
    /// Whether <paramref name="id"/> is a UUID written as 8-4-4-4-12 hex digits (either case), as
    /// the governance layer issues approval ids: exactly 36 characters, so where it ends is fixed.
    /// </summary>
    public static bool IsUuid(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length != 36)
        {
            return false;
        }
        for (var i = 0; i < id.Length; i++)
        {
            if (i is 8 or 13 or 18 or 23 ? id[i] != '-' : !char.IsAsciiHexDigit(id[i]))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Reads the <c>OpenExec-Approval</c> header: base64url of the artifact JSON (SPEC section 5).</summary>
    /// <param name="base64Url">The header's value.</param>
    /// <param name="anyApprovalId">As for <see cref="Parse"/>.</param>
    public static ApprovalArtifact FromHeader(string base64Url, bool anyApprovalId = false)
    {
        ArgumentNullException.ThrowIfNull(base64Url);
        // Tolerate the padded form: the header is the caller's encoding, and padding adds no ambiguity.
        var text = base64Url.AsSpan().TrimEnd('=');
        // Decoded only to be parsed: on the stack for a header of usual size, else a pooled buffer.
        var max = Crypto.Base64Url.MaxDecodedLength(text.Length);
        byte[]? rented = null;
        var json = max <= 1024 ? stackalloc byte[max] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(max));
        StrictValue value;
        Span<Range> ranges = stackalloc Range[FieldNames.Length];
        try
        {
            if (!Crypto.Base64Url.TryDecode(text, json, out var written))
            {
                throw new ApprovalFormatException("Invalid approval artifact: the OpenExec-Approval header must be base64url of the artifact JSON.");
            }
            // An artifact as ClawShield writes it (an object of known string fields, without
            // escapes) is kept as its bytes; any other document is parsed, and refused or read,
            // as a value.
            if (StrictJson.TryReadPlainStringMembers(json[..written], FieldNames, ranges))
            {
                return Received(json[..written], ranges, anyApprovalId);
            }
            value = StrictJson.Parse(json[..written]);
        }
        catch (StrictJsonException e)
        {
            throw new ApprovalFormatException($"Invalid approval artifact: the OpenExec-Approval header is not valid JSON ({e.Message}).", e);
        }
        finally
        {
            if (rented is not null)
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
        return Parse(value, anyApprovalId);
    }

    /// <summary>The artifact as a JSON value, e.g. to embed in an <c>/execute</c> body.</summary>
    public StrictObject ToStrictValue() => new(
    [
        new("approval_id", new StrictString(ApprovalId)),
        new("tenant_id", new StrictString(TenantId)),
        new("action_hash", new StrictString(ActionHash)),
        new("issued_at", new StrictString(IssuedAt)),
        new("expires_at", new StrictString(ExpiresAt)),
        new("signature", new StrictString(Signature)),
    ]);

    /// <summary>The artifact as JSON text.</summary>
    public string ToJson() => Encoding.UTF8.GetString(ToJsonUtf8());

    /// <summary>Base64url of the artifact JSON, for the <c>OpenExec-Approval</c> header.</summary>
    public string ToHeader() => Crypto.Base64Url.Encode(ToJsonUtf8());

    private byte[] ToJsonUtf8()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            writer.WriteString("approval_id", ApprovalId);
            writer.WriteString("tenant_id", TenantId);
            writer.WriteString("action_hash", ActionHash);
            writer.WriteString("issued_at", IssuedAt);
            writer.WriteString("expires_at", ExpiresAt);
            writer.WriteString("signature", Signature);
            writer.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string Required(string? value, string name)
        => value ?? throw new ApprovalFormatException($"Invalid approval artifact: missing field '{name}'.");

    /// <summary>The field's string; null when it is absent; any other JSON type is a shape error.</summary>
    private static string? OptionalString(StrictObject obj, string name)
    {
        if (!obj.TryGet(name, out var value))
        {
            return null;
        }
        return value is StrictString s
            ? s.Value
            : throw new ApprovalFormatException($"Invalid approval artifact: field '{name}' must be a string.");
    }
}
