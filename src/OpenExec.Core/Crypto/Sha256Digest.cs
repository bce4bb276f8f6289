using System.Buffers.Binary;
using System.Security.Cryptography;

namespace OpenExec.Core.Crypto;

/// <summary>
/// A SHA-256 digest as a value: 32 bytes, no string. On the wire a digest is always 64 lowercase
/// hex digits (SPEC section 6); the gateway keeps the hashes of a request (nonce, request,
/// result) as values and writes their hex straight into the receipt's JCS form, its stored
/// document and the claim's row, so that none of them is a string per request unless something
/// asks for one (<see cref="ToString"/>).
/// </summary>
public readonly struct Sha256Digest : IEquatable<Sha256Digest>
{
    /// <summary>Bytes in a digest.</summary>
    public const int Size = 32;

    /// <summary>Characters (or UTF-8 bytes) in its hex form.</summary>
    public const int HexLength = 64;

    // The bytes in order, each eight read little-endian.
    private readonly ulong _a, _b, _c, _d;

    private Sha256Digest(ReadOnlySpan<byte> bytes)
    {
        _a = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        _b = BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]);
        _c = BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]);
        _d = BinaryPrimitives.ReadUInt64LittleEndian(bytes[24..]);
    }

    /// <summary>The SHA-256 of <paramref name="data"/>.</summary>
    public static Sha256Digest Of(ReadOnlySpan<byte> data)
    {
        Span<byte> digest = stackalloc byte[Size];
        SHA256.HashData(data, digest);
        return new Sha256Digest(digest);
    }

    /// <summary>A digest from its 32 bytes.</summary>
    public static Sha256Digest FromBytes(ReadOnlySpan<byte> bytes)
        => bytes.Length == Size ? new Sha256Digest(bytes) : throw new ArgumentException($"A SHA-256 digest is {Size} bytes", nameof(bytes));

    /// <summary>Reads exactly 64 lowercase hex digits (an upper-case digest is another string on the wire).</summary>
    public static bool TryParseHex(ReadOnlySpan<char> hex, out Sha256Digest digest)
    {
        Span<byte> bytes = stackalloc byte[Size];
        if (!Hex.TryDecodeLower(hex, bytes))
        {
            digest = default;
            return false;
        }
        digest = new Sha256Digest(bytes);
        return true;
    }

    /// <summary>Reads 64 lowercase hex digits; throws <see cref="FormatException"/> on anything else.</summary>
    public static Sha256Digest ParseHex(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        return TryParseHex(hex, out var digest) ? digest : throw new FormatException("Not a SHA-256 digest in lowercase hex");
    }

    /// <summary>Writes the 32 bytes.</summary>
    public void CopyTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, _a);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], _b);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[16..], _c);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[24..], _d);
    }

    /// <summary>Writes the 64 lowercase hex digits as UTF-8.</summary>
    public void WriteHexUtf8(Span<byte> destination)
    {
        Span<byte> bytes = stackalloc byte[Size];
        CopyTo(bytes);
        Convert.TryToHexStringLower(bytes, destination[..HexLength], out _);
    }

    /// <summary>Writes the 64 lowercase hex digits.</summary>
    public void WriteHex(Span<char> destination)
    {
        Span<byte> bytes = stackalloc byte[Size];
        CopyTo(bytes);
        Convert.TryToHexStringLower(bytes, destination, out _);
    }

    /// <summary>True when <paramref name="hex"/> is exactly this digest's 64 lowercase hex digits.</summary>
    public bool IsHex(string? hex) => hex is not null && TryParseHex(hex, out var other) && other == this;

    /// <summary>The 64 lowercase hex digits (a new string each call).</summary>
    public override string ToString() => string.Create(HexLength, this, static (chars, digest) => digest.WriteHex(chars));

    public bool Equals(Sha256Digest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

    public override bool Equals(object? obj) => obj is Sha256Digest other && Equals(other);

    /// <summary>The first eight bytes: a digest is already uniformly spread.</summary>
    public override int GetHashCode() => (int)_a;

    public static bool operator ==(Sha256Digest left, Sha256Digest right) => left.Equals(right);

    public static bool operator !=(Sha256Digest left, Sha256Digest right) => !left.Equals(right);
}
