namespace OpenExec.Core.Json;

/// <summary>
/// A JSON value as the strict parser read it. Numbers keep their literal text so that no
/// precision is lost between what was approved and what is executed.
/// </summary>
public abstract class StrictValue
{
    private protected StrictValue() { }
}

/// <summary>A JSON object; properties keep document order, keys are unique.</summary>
public sealed class StrictObject : StrictValue
{
    public static readonly StrictObject Empty = new([]);

    private Dictionary<string, StrictValue>? _index;

    public StrictObject(IReadOnlyList<KeyValuePair<string, StrictValue>> properties)
    {
        ArgumentNullException.ThrowIfNull(properties);
        Properties = properties;
    }

    public IReadOnlyList<KeyValuePair<string, StrictValue>> Properties { get; }

    public int Count => Properties.Count;

    public bool TryGet(string key, out StrictValue value)
    {
        if (Properties.Count <= 8)
        {
            // By index: a foreach over the interface allocates an enumerator per look-up.
            for (var i = 0; i < Properties.Count; i++)
            {
                if (string.Equals(Properties[i].Key, key, StringComparison.Ordinal))
                {
                    value = Properties[i].Value;
                    return true;
                }
            }
            value = null!;
            return false;
        }
        _index ??= Properties.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        return _index.TryGetValue(key, out value!);
    }
}

/// <summary>A JSON array.</summary>
public sealed class StrictArray : StrictValue
{
    public StrictArray(IReadOnlyList<StrictValue> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        Items = items;
    }

    public IReadOnlyList<StrictValue> Items { get; }
}

/// <summary>A JSON string, unescaped (always valid UTF-16: lone surrogates are refused).</summary>
public sealed class StrictString : StrictValue
{
    public StrictString(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Value = value;
    }

    public string Value { get; }
}

/// <summary>
/// A JSON number, kept as its literal text (valid JSON number grammar). <see cref="IsInteger"/>
/// is true when the literal has no fraction and no exponent.
/// </summary>
public sealed class StrictNumber : StrictValue
{
    public StrictNumber(string literal)
    {
        ArgumentNullException.ThrowIfNull(literal);
        Literal = literal;
        IsInteger = literal.AsSpan().IndexOfAny('.', 'e', 'E') < 0;
    }

    public string Literal { get; }

    public bool IsInteger { get; }
}

/// <summary><c>true</c>, <c>false</c> or <c>null</c>.</summary>
public sealed class StrictLiteral : StrictValue
{
    public static readonly StrictLiteral True = new("true");
    public static readonly StrictLiteral False = new("false");
    public static readonly StrictLiteral Null = new("null");

    private StrictLiteral(string text) => Text = text;

    public string Text { get; }

    public static StrictLiteral FromBool(bool value) => value ? True : False;
}
