using System.Buffers.Binary;
using System.Diagnostics;
using OpenExec.Core.Crypto;

namespace OpenExec.Core.Receipts;

/// <summary>
/// A W3C Trace Context trace id as a value: 16 bytes, never all zero; on the wire (a receipt's
/// <c>trace_id</c>, a <c>traceparent</c>) 32 lowercase hex digits. The gateway carries a
/// request's trace id this way and writes its hex straight into the receipt and the backend's
/// <c>traceparent</c>: no string for it per request.
/// </summary>
public readonly struct W3CTraceId : IEquatable<W3CTraceId>
{
    /// <summary>Characters (or UTF-8 bytes) in its hex form.</summary>
    public const int HexLength = 32;

    // The 16 bytes in order: the first eight, the last eight, each big-endian.
    private readonly ulong _high, _low;

    private W3CTraceId(ulong high, ulong low)
    {
        _high = high;
        _low = low;
    }

    /// <summary>A random trace id (not all zero).</summary>
    public static W3CTraceId NewRandom()
    {
        Span<byte> bytes = stackalloc byte[16];
        W3CTraceId id;
        do
        {
            Random.Shared.NextBytes(bytes);
            id = FromBytes(bytes);
        }
        while ((id._high | id._low) == 0);
        return id;
    }

    /// <summary>The trace id of an Activity's context.</summary>
    public static W3CTraceId From(ActivityTraceId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.CopyTo(bytes);
        return FromBytes(bytes);
    }

    private static W3CTraceId FromBytes(ReadOnlySpan<byte> bytes)
        => new(BinaryPrimitives.ReadUInt64BigEndian(bytes), BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));

    /// <summary>Reads exactly 32 lowercase hex digits, not all zero.</summary>
    public static bool TryParseHex(ReadOnlySpan<char> hex, out W3CTraceId id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id = Hex.TryDecodeLower(hex, bytes) ? FromBytes(bytes) : default;
        return (id._high | id._low) != 0;
    }

    /// <summary>Reads 32 lowercase hex digits (not all zero); throws <see cref="FormatException"/> on anything else.</summary>
    public static W3CTraceId ParseHex(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        return TryParseHex(hex, out var id) ? id : throw new FormatException("Not a W3C trace id (32 lowercase hex digits, not all zero)");
    }

    /// <summary>Writes the 32 lowercase hex digits as UTF-8.</summary>
    public void WriteHexUtf8(Span<byte> destination)
    {
        Span<byte> bytes = stackalloc byte[16];
        CopyTo(bytes);
        Convert.TryToHexStringLower(bytes, destination[..HexLength], out _);
    }

    /// <summary>Writes the 32 lowercase hex digits.</summary>
    public void WriteHex(Span<char> destination)
    {
        Span<byte> bytes = stackalloc byte[16];
        CopyTo(bytes);
        Convert.TryToHexStringLower(bytes, destination[..HexLength], out _);
    }

    private void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
    }

    /// <summary>The 32 lowercase hex digits (a new string each call).</summary>
    public override string ToString() => string.Create(HexLength, this, static (chars, id) => id.WriteHex(chars));

    public bool Equals(W3CTraceId other) => _high == other._high && _low == other._low;

    public override bool Equals(object? obj) => obj is W3CTraceId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(_high, _low);

    public static bool operator ==(W3CTraceId left, W3CTraceId right) => left.Equals(right);

    public static bool operator !=(W3CTraceId left, W3CTraceId right) => !left.Equals(right);
}
