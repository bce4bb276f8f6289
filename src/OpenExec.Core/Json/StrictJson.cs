namespace OpenExec.Core.Json;

/// <summary>
/// The strict JSON reader (SPEC section 3): one reading of a body that every later step shares.
/// </summary>
public static class StrictJson
{
    /// <summary>Maximum nesting depth accepted (SPEC: deeper than 64 is refused).</summary>
    public const int MaxDepth = 64;

    /// <summary>Largest integer literal accepted, in digits (Python's int limit).</summary>
    public const int MaxIntegerDigits = 4300;

    /// <summary>Parses UTF-8 JSON text; throws <see cref="StrictJsonException"/> with a wire code.</summary>
    public static StrictValue Parse(ReadOnlySpan<byte> utf8) => throw new NotImplementedException();
}
