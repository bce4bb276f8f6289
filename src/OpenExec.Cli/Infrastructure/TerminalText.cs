using System.Globalization;
using System.Text;

namespace OpenExec.Cli.Infrastructure;

/// <summary>
/// A writer for text a person reads on a terminal: reports and errors, which quote values from
/// documents and servers the tool does not trust (an exec id, a gateway id, a key id). Control
/// characters (C0, DEL, C1: escape sequences, carriage returns, and a newline within a value) and
/// the Unicode bidirectional controls are written as <c>\uXXXX</c>, so a forged receipt cannot
/// move the cursor, clear a line, start a line of its own ("VALID") or reorder text to make an
/// INVALID read as VALID. Each report line is one WriteLine; only the line ends this writer adds
/// are newlines. Data output (an export, an artifact, a hash) is written unchanged, by the plain writer.
/// </summary>
internal sealed class TerminalText(TextWriter inner) : TextWriter(CultureInfo.InvariantCulture)
{
    public override Encoding Encoding => inner.Encoding;

    public override void Write(char value)
    {
        // A newline written alone is a line end (TextWriter.WriteLine() writes its NewLine char by char).
        if (value != '\n' && IsUnsafe(value))
        {
            inner.Write(Escaped(value));
            return;
        }
        inner.Write(value);
    }

    public override void Write(string? value) => inner.Write(Escape(value));

    public override void WriteLine(string? value) => inner.WriteLine(Escape(value));

    public override Task WriteAsync(string? value) => inner.WriteAsync(Escape(value));

    public override Task WriteLineAsync(string? value) => inner.WriteLineAsync(Escape(value));

    public override void Flush() => inner.Flush();

    public override Task FlushAsync() => inner.FlushAsync();

    /// <summary>The text with every unsafe character escaped (the same string when there is none).</summary>
    public static string? Escape(string? value)
    {
        if (value is null || !value.AsSpan().ContainsAny(Unsafe))
        {
            return value;
        }
        var text = new StringBuilder(value.Length + 16);
        foreach (var c in value)
        {
            if (IsUnsafe(c))
            {
                text.Append(Escaped(c));
            }
            else
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }

    private static readonly System.Buffers.SearchValues<char> Unsafe = System.Buffers.SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(c => (char)c), .. Enumerable.Range(0x7F, 0x21).Select(c => (char)c),
         '\u061C', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069']);

    private static bool IsUnsafe(char c) => Unsafe.Contains(c);

    private static string Escaped(char c) => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture);
}
