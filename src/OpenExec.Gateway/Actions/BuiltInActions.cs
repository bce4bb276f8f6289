using System.Globalization;
using System.Numerics;
using OpenExec.Core.Json;

namespace OpenExec.Gateway.Actions;

/// <summary>
/// The seed's in-process actions: <c>echo</c> → <c>{"echo": payload}</c>, <c>add</c> →
/// <c>{"sum": a + b}</c> (missing = 0). Integers add exactly, at any size; anything else adds
/// as doubles, as Python would.
/// </summary>
internal static class BuiltInActions
{
    public static readonly string[] Names = ["echo", "add"];

    /// <summary>
    /// Checks a payload before anything is claimed, so that a payload the action cannot run
    /// never consumes a nonce or an approval. Returns the problem, or null.
    /// </summary>
    public static string? Validate(string action, StrictObject payload)
    {
        if (action != "add")
        {
            return null;
        }
        foreach (var key in (ReadOnlySpan<string>)["a", "b"])
        {
            if (payload.TryGet(key, out var value) && value is not StrictNumber)
            {
                return $"add needs numbers: '{key}' is not a number";
            }
        }
        if (!TryAdd(payload, out var sum))
        {
            return "add overflowed: the sum is not a finite number";
        }
        // The answer and its receipt must stay readable by the JSON readers the request had to
        // satisfy (Python's included): an integer sum is held to the same digit limit.
        return sum.IsInteger && sum.Literal.AsSpan().TrimStart('-').Length > StrictJson.MaxIntegerDigits
            ? $"add overflowed: the sum has more than {StrictJson.MaxIntegerDigits} digits"
            : null;
    }

    public static StrictValue Run(string action, StrictObject payload)
    {
        switch (action)
        {
            case "echo":
                return new StrictObject([new("echo", payload)]);
            case "add":
                if (!TryAdd(payload, out var sum))
                {
                    throw new InvalidOperationException("add payload was not validated");
                }
                return new StrictObject([new("sum", sum)]);
            default:
                throw new InvalidOperationException($"Not a built-in action: {action}");
        }
    }

    private static bool TryAdd(StrictObject payload, out StrictNumber sum)
    {
        var a = Operand(payload, "a");
        var b = Operand(payload, "b");
        if (a is null || b is null)
        {
            sum = null!;
            return false;
        }
        if (a.IsInteger && b.IsInteger)
        {
            var total = BigInteger.Parse(a.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)
                + BigInteger.Parse(b.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            sum = new StrictNumber(total.ToString(CultureInfo.InvariantCulture));
            return true;
        }
        var d = AsDouble(a) + AsDouble(b);
        if (!double.IsFinite(d))
        {
            sum = null!;
            return false;
        }
        var literal = d.ToString("R", CultureInfo.InvariantCulture);
        // A float result stays a float (Python prints 3.0, not 3).
        if (literal.AsSpan().IndexOfAny('.', 'E') < 0)
        {
            literal += ".0";
        }
        sum = new StrictNumber(literal);
        return true;
    }

    /// <summary>
    /// An operand as the double Python adds: an integer converts as its value, so the integer
    /// <c>-0</c> is <c>0.0</c> (it is <c>0</c> in the request's hash too), not <c>-0.0</c> as
    /// double.Parse reads it.
    /// </summary>
    private static double AsDouble(StrictNumber n)
        => n.IsInteger && n.Literal == "-0" ? 0.0 : double.Parse(n.Literal, NumberStyles.Float, CultureInfo.InvariantCulture);

    private static StrictNumber? Operand(StrictObject payload, string key)
    {
        if (!payload.TryGet(key, out var value))
        {
            return new StrictNumber("0");
        }
        return value as StrictNumber;
    }
}
