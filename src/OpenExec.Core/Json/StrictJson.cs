using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using OpenExec.Core.Text;

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

    // Used by the string overload: throws on lone surrogates instead of writing U+FFFD.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Parses UTF-8 JSON text; throws <see cref="StrictJsonException"/> with a wire code.</summary>
    public static StrictValue Parse(ReadOnlySpan<byte> utf8) => Parse(utf8, exactDoubles: true);

    /// <summary>
    /// Parses a result (a backend's JSON answer, or the result an auditor hands to verify) with
    /// the same rules, except that a non-integer may carry more digits than a double keeps (a
    /// decimal type's "0.1234567890123456789"): it is hashed as the double it reads as, as Python's
    /// json.loads and the ClawShield canonical form would. The precision rule exists so that a
    /// request's approval and its execution cannot read one body two ways; a result is read once.
    /// </summary>
    public static StrictValue ParseResult(ReadOnlySpan<byte> utf8) => Parse(utf8, exactDoubles: false);

    /// <summary>
    /// Parses an /execute answer as <see cref="ParseResult"/> reads a result, with one more level
    /// of nesting: the answer holds its result one level down, and the result may itself be
    /// <see cref="MaxDepth"/> deep (an echo of the deepest payload a request may carry, or a
    /// backend's answer), so the gateway's own answer would otherwise be refused.
    /// </summary>
    public static StrictValue ParseAnswer(ReadOnlySpan<byte> utf8) => Parse(utf8, exactDoubles: false, MaxDepth + 1);

    private static StrictValue Parse(ReadOnlySpan<byte> utf8, bool exactDoubles, int maxDepth = MaxDepth)
    {
        if (utf8.IsEmpty)
        {
            throw new StrictJsonException(StrictJsonParser.InvalidJson, "Empty input: expected a JSON value at byte 0");
        }
        if (utf8.StartsWith("\uFEFF"u8))
        {
            throw new StrictJsonException(StrictJsonParser.InvalidJson, "A UTF-8 byte order mark is not allowed at byte 0");
        }

        // Validating the whole input once (vectorized) lets the parser copy string runs without
        // re-checking them, and refuses overlong forms, encoded surrogates, bytes over F4 and
        // truncated sequences wherever they appear.
        if (!Utf8.IsValid(utf8))
        {
            throw new StrictJsonException(
                StrictJsonParser.InvalidJson, $"Invalid UTF-8 at byte {StrictJsonParser.FirstInvalidUtf8(utf8)}");
        }

        var parser = new StrictJsonParser(utf8, exactDoubles, maxDepth);
        return parser.ParseDocument();
    }

    /// <summary>
    /// Reads a document that is one object whose members are all strings without escapes, each
    /// named in <paramref name="names"/> and each at most once, with the same rules as
    /// <see cref="Parse(ReadOnlySpan{byte})"/> and without building its value: each member's value
    /// is given as where its bytes stand in <paramref name="utf8"/> (its text as UTF-8, exactly),
    /// in <paramref name="ranges"/> at its name's index (<c>default</c> where absent). False for any
    /// other document, valid or not (another shape, an escape, a duplicate, an unknown member,
    /// invalid JSON): the caller then parses it, which refuses it with its error or reads it the
    /// general way. <paramref name="ranges"/> is then not to be read.
    /// </summary>
    public static bool TryReadPlainStringMembers(ReadOnlySpan<byte> utf8, ReadOnlySpan<string> names, Span<Range> ranges)
    {
        if (utf8.IsEmpty || utf8.StartsWith("\uFEFF"u8) || !Utf8.IsValid(utf8) || ranges.Length < names.Length)
        {
            return false;
        }
        ranges.Clear();
        return new StrictJsonParser(utf8).TryReadPlainStringMembers(names, ranges);
    }

    /// <summary>
    /// Parses a string holding JSON text. A lone surrogate in the text is refused rather than
    /// silently replaced, as invalid UTF-8 would be.
    /// </summary>
    public static StrictValue Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        byte[] utf8;
        try
        {
            utf8 = StrictUtf8.GetBytes(json);
        }
        catch (EncoderFallbackException e)
        {
            throw new StrictJsonException(
                StrictJsonParser.InvalidJson, $"Lone surrogate in the text at char {e.Index}");
        }
        return Parse(utf8);
    }
}

/// <summary>Recursive descent over the UTF-8 bytes; the input is already known to be valid UTF-8.</summary>
internal ref struct StrictJsonParser
{
    internal const string InvalidJson = "invalid_json";
    internal const string DuplicateKey = "duplicate_key";
    internal const string InvalidNumber = "invalid_number";

    // Objects up to this size check duplicates by scanning; larger ones switch to a hash set.
    private const int LinearKeyScanLimit = 16;

    // Strings decoded on the stack up to this many chars; longer ones rent from the pool.
    private const int StackCharLimit = 256;

    // What ends a plain run inside a string: the quote, a backslash, or a raw control char.
    private static readonly SearchValues<byte> StringSpecials = SearchValues.Create(
        "\"\\\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u0009\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F"u8);

    // Single-digit integers are the most common numbers; the DOM is immutable, so share them.
    private static readonly StrictNumber[] SmallIntegers =
        Enumerable.Range(0, 10).Select(i => new StrictNumber(i.ToString(CultureInfo.InvariantCulture))).ToArray();

    // The members and items of the objects and arrays being read, on one stack per thread (a
    // nested one's above its parent's): each value gets an array of exactly its size, with no list
    // (and no outgrown arrays) of its own. Emptied when a document is done, read or refused.
    [ThreadStatic]
    private static List<KeyValuePair<string, StrictValue>>? t_members;

    [ThreadStatic]
    private static List<StrictValue>? t_items;

    // Object keys recently read on this thread, by a hash of their bytes: the same keys come back
    // request after request, and an immutable string may be shared. Short ASCII keys only.
    [ThreadStatic]
    private static string?[]? t_keys;

    private const int KeyCacheSize = 64;
    private const int KeyCacheMaxLength = 32;

    // A stack that grew past this (a document with a very large object or array) is not kept.
    private const int KeptStack = 4096;

    private readonly ReadOnlySpan<byte> _s;
    private readonly bool _exactDoubles;
    private readonly int _maxDepth;
    private int _pos;
    private int _depth;

    internal StrictJsonParser(ReadOnlySpan<byte> utf8, bool exactDoubles = true, int maxDepth = StrictJson.MaxDepth)
    {
        _s = utf8;
        _exactDoubles = exactDoubles;
        _maxDepth = maxDepth;
        _pos = 0;
        _depth = 0;
    }

    internal StrictValue ParseDocument()
    {
        try
        {
            StrictValue value = ParseValue();
            SkipWhitespace();
            if (_pos < _s.Length)
            {
                throw Syntax($"Unexpected {Describe(_s[_pos])} after the JSON value at byte {_pos}");
            }
            return value;
        }
        finally
        {
            // A refused document leaves its partial values behind: none is kept alive.
            Release(ref t_members);
            Release(ref t_items);
        }
    }

    /// <summary>
    /// See <see cref="StrictJson.TryReadPlainStringMembers"/>: the object's grammar as
    /// <see cref="ParseObject"/> reads it, strings as <see cref="ReadString"/> finds them.
    /// </summary>
    internal bool TryReadPlainStringMembers(ReadOnlySpan<string> names, Span<Range> ranges)
    {
        try
        {
            SkipWhitespace();
            if (_pos >= _s.Length || _s[_pos] != (byte)'{')
            {
                return false;
            }
            _pos++;
            SkipWhitespace();
            if (_pos < _s.Length && _s[_pos] == (byte)'}')
            {
                _pos++;
            }
            else
            {
                while (true)
                {
                    SkipWhitespace();
                    if (_pos >= _s.Length || _s[_pos] != (byte)'"')
                    {
                        return false;
                    }
                    var index = names.IndexOf(ReadString(isKey: true));
                    if (index < 0 || ranges[index].End.Value != 0)
                    {
                        return false;
                    }
                    SkipWhitespace();
                    if (_pos >= _s.Length || _s[_pos] != (byte)':')
                    {
                        return false;
                    }
                    _pos++;
                    SkipWhitespace();
                    if (_pos >= _s.Length || _s[_pos] != (byte)'"')
                    {
                        return false;
                    }
                    if (ScanString() is not (var start, var end, false))
                    {
                        return false;
                    }
                    // Past the opening quote: a value's range never ends at 0, an absent one's does.
                    ranges[index] = start..end;
                    SkipWhitespace();
                    if (_pos >= _s.Length)
                    {
                        return false;
                    }
                    var b = _s[_pos++];
                    if (b == (byte)'}')
                    {
                        break;
                    }
                    if (b != (byte)',')
                    {
                        return false;
                    }
                }
            }
            SkipWhitespace();
            return _pos == _s.Length;
        }
        catch (StrictJsonException)
        {
            return false;
        }
    }

    private static void Release<T>(ref List<T>? stack)
    {
        if (stack is null)
        {
            return;
        }
        if (stack.Capacity > KeptStack)
        {
            stack = null;
            return;
        }
        stack.Clear();
    }

    /// <summary>An unescaped key: the string this thread last read for the same bytes, or a new one kept for next time.</summary>
    private static string Key(ReadOnlySpan<byte> content)
    {
        if (content.Length > KeyCacheMaxLength || !System.Text.Ascii.IsValid(content))
        {
            return Encoding.UTF8.GetString(content);
        }
        // FNV-1a: collisions only replace an entry.
        var hash = 2166136261u;
        foreach (var b in content)
        {
            hash = (hash ^ b) * 16777619u;
        }
        var keys = t_keys ??= new string?[KeyCacheSize];
        ref var slot = ref keys[hash % KeyCacheSize];
        if (slot is { } cached && System.Text.Ascii.Equals(content, cached))
        {
            return cached;
        }
        return slot = Encoding.UTF8.GetString(content);
    }

    /// <summary>The values on <paramref name="stack"/> from <paramref name="first"/> on, as an array, taken off it.</summary>
    private static T[] Pop<T>(List<T> stack, int first)
    {
        var values = new T[stack.Count - first];
        stack.CopyTo(first, values, 0, values.Length);
        stack.RemoveRange(first, values.Length);
        return values;
    }

    /// <summary>Byte offset of the first invalid UTF-8 sequence (failure path only).</summary>
    internal static int FirstInvalidUtf8(ReadOnlySpan<byte> utf8)
    {
        int offset = 0;
        while (offset < utf8.Length)
        {
            if (Rune.DecodeFromUtf8(utf8[offset..], out _, out int consumed) != OperationStatus.Done)
            {
                return offset;
            }
            offset += consumed;
        }
        return offset;
    }

    private StrictValue ParseValue()
    {
        SkipWhitespace();
        if (_pos >= _s.Length)
        {
            throw Syntax($"Unexpected end of input: expected a value at byte {_pos}");
        }
        switch (_s[_pos])
        {
            case (byte)'{':
                return ParseObject();
            case (byte)'[':
                return ParseArray();
            case (byte)'"':
                return new StrictString(ReadString());
            case (byte)'t':
                ExpectWord("true"u8);
                return StrictLiteral.True;
            case (byte)'f':
                ExpectWord("false"u8);
                return StrictLiteral.False;
            case (byte)'n':
                ExpectWord("null"u8);
                return StrictLiteral.Null;
            case (byte)'-':
            case >= (byte)'0' and <= (byte)'9':
                return ParseNumber();
            case (byte)'N' when _s[_pos..].StartsWith("NaN"u8):
                throw new StrictJsonException(InvalidNumber, $"NaN is not a JSON number at byte {_pos}");
            case (byte)'I' when _s[_pos..].StartsWith("Infinity"u8):
                throw new StrictJsonException(InvalidNumber, $"Infinity is not a JSON number at byte {_pos}");
            default:
                throw Syntax($"Unexpected {Describe(_s[_pos])} at byte {_pos}: expected a value");
        }
    }

    private StrictObject ParseObject()
    {
        int start = _pos;
        Enter();
        _pos++;
        SkipWhitespace();
        if (_pos < _s.Length && _s[_pos] == (byte)'}')
        {
            _pos++;
            _depth--;
            return StrictObject.Empty;
        }

        var properties = t_members ??= [];
        int first = properties.Count;
        HashSet<string>? seen = null;
        while (true)
        {
            SkipWhitespace();
            if (_pos >= _s.Length)
            {
                throw Syntax($"Unexpected end of input in object starting at byte {start}");
            }
            if (_s[_pos] != (byte)'"')
            {
                throw Syntax($"Expected a string key at byte {_pos}, found {Describe(_s[_pos])}");
            }
            int keyOffset = _pos;
            string key = ReadString(isKey: true);
            if (IsDuplicate(properties, first, ref seen, key))
            {
                throw new StrictJsonException(
                    DuplicateKey, $"Duplicate key '{InputText.Abbreviate(key)}' in object at byte {keyOffset}");
            }

            SkipWhitespace();
            Expect((byte)':', "':' after the key");
            StrictValue value = ParseValue();
            properties.Add(new KeyValuePair<string, StrictValue>(key, value));

            SkipWhitespace();
            if (_pos >= _s.Length)
            {
                throw Syntax($"Unexpected end of input in object starting at byte {start}");
            }
            byte b = _s[_pos++];
            if (b == (byte)'}')
            {
                break;
            }
            if (b != (byte)',')
            {
                throw Syntax($"Expected ',' or '}}' at byte {_pos - 1}, found {Describe(b)}");
            }
        }
        _depth--;
        return new StrictObject(Pop(properties, first));
    }

    /// <summary>Whether the object whose members are <paramref name="properties"/> from <paramref name="first"/> on already has <paramref name="key"/>.</summary>
    private static bool IsDuplicate(List<KeyValuePair<string, StrictValue>> properties, int first, ref HashSet<string>? seen, string key)
    {
        if (seen is not null)
        {
            return !seen.Add(key);
        }
        for (var i = first; i < properties.Count; i++)
        {
            if (string.Equals(properties[i].Key, key, StringComparison.Ordinal))
            {
                return true;
            }
        }
        var count = properties.Count - first;
        if (count + 1 >= LinearKeyScanLimit)
        {
            seen = new HashSet<string>(count * 2, StringComparer.Ordinal);
            for (var i = first; i < properties.Count; i++)
            {
                seen.Add(properties[i].Key);
            }
            seen.Add(key);
        }
        return false;
    }

    private StrictArray ParseArray()
    {
        int start = _pos;
        Enter();
        _pos++;
        SkipWhitespace();
        if (_pos < _s.Length && _s[_pos] == (byte)']')
        {
            _pos++;
            _depth--;
            return new StrictArray([]);
        }
        var items = t_items ??= [];
        int first = items.Count;
        while (true)
        {
            items.Add(ParseValue());
            SkipWhitespace();
            if (_pos >= _s.Length)
            {
                throw Syntax($"Unexpected end of input in array starting at byte {start}");
            }
            byte b = _s[_pos++];
            if (b == (byte)']')
            {
                break;
            }
            if (b != (byte)',')
            {
                throw Syntax($"Expected ',' or ']' at byte {_pos - 1}, found {Describe(b)}");
            }
        }
        _depth--;
        return new StrictArray(Pop(items, first));
    }

    private void Enter()
    {
        if (++_depth > _maxDepth)
        {
            throw Syntax($"Nesting deeper than {_maxDepth} levels at byte {_pos}");
        }
    }

    private StrictNumber ParseNumber()
    {
        int start = _pos;
        if (_s[_pos] == (byte)'-')
        {
            _pos++;
            if (_s[_pos..].StartsWith("Infinity"u8))
            {
                throw new StrictJsonException(InvalidNumber, $"-Infinity is not a JSON number at byte {start}");
            }
        }

        int integerStart = _pos;
        if (_pos >= _s.Length || !IsDigit(_s[_pos]))
        {
            throw Syntax($"Expected a digit at byte {_pos}");
        }
        if (_s[_pos] == (byte)'0')
        {
            _pos++;
            if (_pos < _s.Length && IsDigit(_s[_pos]))
            {
                throw Syntax($"Leading zeros are not allowed in the number at byte {start}");
            }
        }
        else
        {
            SkipDigits();
        }
        int integerDigits = _pos - integerStart;

        bool isInteger = true;
        if (_pos < _s.Length && _s[_pos] == (byte)'.')
        {
            isInteger = false;
            _pos++;
            RequireDigits("after the decimal point");
        }
        if (_pos < _s.Length && _s[_pos] is (byte)'e' or (byte)'E')
        {
            isInteger = false;
            _pos++;
            if (_pos < _s.Length && _s[_pos] is (byte)'+' or (byte)'-')
            {
                _pos++;
            }
            RequireDigits("in the exponent");
        }

        ReadOnlySpan<byte> literal = _s[start.._pos];
        if (isInteger)
        {
            if (integerDigits > StrictJson.MaxIntegerDigits)
            {
                throw new StrictJsonException(
                    InvalidNumber,
                    $"Integer at byte {start} has {integerDigits} digits, more than the {StrictJson.MaxIntegerDigits} allowed");
            }
            if (literal.Length == 1)
            {
                return SmallIntegers[literal[0] - '0'];
            }
        }
        else
        {
            CheckDoublePrecision(literal, start, _exactDoubles);
        }
        return new StrictNumber(Encoding.UTF8.GetString(literal));
    }

    /// <summary>
    /// A non-integer literal must denote exactly the double it parses to (as its shortest
    /// round-trip decimal): otherwise a reader keeping more digits would see another number.
    /// </summary>
    private static void CheckDoublePrecision(ReadOnlySpan<byte> literal, int offset, bool exact)
    {
        if (!double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value))
        {
            throw new StrictJsonException(InvalidNumber, $"Number at byte {offset} is outside the range of a double");
        }
        if (exact && !DecimalText.DenotesShortest(literal, value))
        {
            throw new StrictJsonException(
                InvalidNumber, value == 0
                    ? $"Number at byte {offset} is too close to zero for a double, which reads it as 0"
                    : $"Number at byte {offset} has more precision than a double keeps");
        }
    }

    private void RequireDigits(string where)
    {
        if (_pos >= _s.Length || !IsDigit(_s[_pos]))
        {
            throw Syntax($"Expected a digit {where} at byte {_pos}");
        }
        SkipDigits();
    }

    private void SkipDigits()
    {
        int run = _s[_pos..].IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        _pos = run < 0 ? _s.Length : _pos + run;
    }

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    /// <summary>Reads the string starting at the opening quote at <c>_pos</c> and unescapes it.</summary>
    private string ReadString(bool isKey = false)
    {
        var (start, i, hasEscape) = ScanString();
        ReadOnlySpan<byte> content = _s[start..i];
        if (!hasEscape)
        {
            return content.IsEmpty ? string.Empty : isKey ? Key(content) : Encoding.UTF8.GetString(content);
        }

        char[]? rented = null;
        Span<char> buffer = content.Length <= StackCharLimit
            ? stackalloc char[StackCharLimit]
            : (rented = ArrayPool<char>.Shared.Rent(content.Length));
        try
        {
            int length = Unescape(content, start, buffer);
            return new string(buffer[..length]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// Finds the end of the string whose opening quote is at <c>_pos</c> and moves past its closing
    /// quote: where its content starts and ends, and whether it has an escape.
    /// </summary>
    private (int Start, int End, bool HasEscape) ScanString()
    {
        int open = _pos;
        int start = open + 1;
        int i = start;
        bool hasEscape = false;

        // Find the closing quote first, so the decoded length is bounded by the raw length.
        while (true)
        {
            int run = _s[i..].IndexOfAny(StringSpecials);
            if (run < 0)
            {
                throw Syntax($"Unterminated string starting at byte {open}");
            }
            i += run;
            byte b = _s[i];
            if (b == (byte)'"')
            {
                break;
            }
            if (b == (byte)'\\')
            {
                hasEscape = true;
                i += 2;
                if (i >= _s.Length)
                {
                    throw Syntax($"Unterminated string starting at byte {open}");
                }
                continue;
            }
            throw Syntax($"Unescaped control character 0x{b:X2} in string at byte {i}");
        }

        _pos = i + 1;
        return (start, i, hasEscape);
    }

    /// <summary>Decodes string content with escapes; <paramref name="offset"/> locates errors.</summary>
    private static int Unescape(ReadOnlySpan<byte> content, int offset, Span<char> output)
    {
        int o = 0;
        int p = 0;
        while (p < content.Length)
        {
            int run = content[p..].IndexOf((byte)'\\');
            int runEnd = run < 0 ? content.Length : p + run;
            if (runEnd > p)
            {
                // Escapes are ASCII, so runs between them hold whole (already validated) sequences.
                o += Encoding.UTF8.GetChars(content[p..runEnd], output[o..]);
            }
            if (run < 0)
            {
                break;
            }

            p = runEnd + 1;
            byte e = content[p];
            switch (e)
            {
                case (byte)'"': output[o++] = '"'; p++; break;
                case (byte)'\\': output[o++] = '\\'; p++; break;
                case (byte)'/': output[o++] = '/'; p++; break;
                case (byte)'b': output[o++] = '\b'; p++; break;
                case (byte)'f': output[o++] = '\f'; p++; break;
                case (byte)'n': output[o++] = '\n'; p++; break;
                case (byte)'r': output[o++] = '\r'; p++; break;
                case (byte)'t': output[o++] = '\t'; p++; break;
                case (byte)'u':
                    int escapeAt = offset + runEnd;
                    char c = ReadHex4(content, p + 1, escapeAt);
                    p += 5;
                    if (char.IsLowSurrogate(c))
                    {
                        throw Syntax($"Unpaired surrogate escape \\u{(int)c:x4} at byte {escapeAt}");
                    }
                    if (char.IsHighSurrogate(c))
                    {
                        // A high surrogate must be followed at once by an escaped low surrogate.
                        if (p + 1 >= content.Length || content[p] != (byte)'\\' || content[p + 1] != (byte)'u')
                        {
                            throw Syntax($"Unpaired surrogate escape \\u{(int)c:x4} at byte {escapeAt}");
                        }
                        char low = ReadHex4(content, p + 2, offset + p);
                        if (!char.IsLowSurrogate(low))
                        {
                            throw Syntax($"Unpaired surrogate escape \\u{(int)c:x4} at byte {escapeAt}");
                        }
                        output[o++] = c;
                        c = low;
                        p += 6;
                    }
                    output[o++] = c;
                    break;
                default:
                    throw Syntax($"Invalid escape sequence in string at byte {offset + runEnd}");
            }
        }
        return o;
    }

    private static char ReadHex4(ReadOnlySpan<byte> content, int at, int escapeOffset)
    {
        if (at + 4 > content.Length)
        {
            throw Syntax($"Invalid \\u escape in string at byte {escapeOffset}");
        }
        int value = 0;
        for (int k = 0; k < 4; k++)
        {
            int digit = HexValue(content[at + k]);
            if (digit < 0)
            {
                throw Syntax($"Invalid \\u escape in string at byte {escapeOffset}");
            }
            value = (value << 4) | digit;
        }
        return (char)value;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };

    private void ExpectWord(ReadOnlySpan<byte> word)
    {
        if (!_s[_pos..].StartsWith(word))
        {
            throw Syntax($"Invalid literal at byte {_pos}: expected '{Encoding.ASCII.GetString(word)}'");
        }
        _pos += word.Length;
    }

    private void Expect(byte expected, string what)
    {
        if (_pos >= _s.Length)
        {
            throw Syntax($"Unexpected end of input: expected {what} at byte {_pos}");
        }
        if (_s[_pos] != expected)
        {
            throw Syntax($"Expected {what} at byte {_pos}, found {Describe(_s[_pos])}");
        }
        _pos++;
    }

    private void SkipWhitespace()
    {
        // RFC 8259 whitespace only: space, tab, line feed, carriage return.
        while (_pos < _s.Length)
        {
            byte b = _s[_pos];
            if (b != (byte)' ' && b != (byte)'\n' && b != (byte)'\r' && b != (byte)'\t')
            {
                return;
            }
            _pos++;
        }
    }

    private static StrictJsonException Syntax(string message) => new(InvalidJson, message);

    private static string Describe(byte b) =>
        b is >= 0x21 and <= 0x7E ? $"'{(char)b}'" : $"byte 0x{b:X2}";

}
