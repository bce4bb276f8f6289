using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

/// <summary>
/// Differential test against the reference itself: random documents (fixed seed) are
/// canonicalized by the machine's python3 and by <see cref="ClawShieldJson"/>, byte for byte.
/// Deliberately fails (never skips) when python3 is missing: the reference is the point.
/// </summary>
public class ClawShieldDifferentialTests
{
    private const int DocumentCount = 600;

    // Reads one JSON string per line (the document text), prints its canonical form per line.
    private const string PythonScript = """
        import json, sys
        with open(sys.argv[1], encoding="utf-8") as src, open(sys.argv[2], "w", encoding="ascii", newline="\n") as dst:
            for line in src:
                text = json.loads(line)
                dst.write(json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) + "\n")
        """;

    [Fact]
    public void RandomDocumentsMatchPython()
    {
        var generator = new RandomJson(new Random(8785));
        var documents = new List<string>();
        for (int i = 0; i < DocumentCount; i++)
        {
            documents.Add(generator.Document());
        }

        string directory = Path.Combine(Path.GetTempPath(), "openexec-json-diff-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            string inputPath = Path.Combine(directory, "input.jsonl");
            string outputPath = Path.Combine(directory, "output.txt");
            File.WriteAllLines(inputPath, documents.Select(d => JsonSerializer.Serialize(d)), new UTF8Encoding(false));

            RunPython(inputPath, outputPath);

            string[] expected = File.ReadAllLines(outputPath, Encoding.ASCII);
            Assert.Equal(documents.Count, expected.Length);
            var failures = new List<string>();
            for (int i = 0; i < documents.Count; i++)
            {
                string actual;
                try
                {
                    actual = ClawShieldJson.SerializeToString(StrictJson.Parse(Encoding.UTF8.GetBytes(documents[i])));
                }
                catch (StrictJsonException e)
                {
                    failures.Add($"document {i} refused: {e.Code} {e.Message}");
                    continue;
                }
                if (!string.Equals(expected[i], actual, StringComparison.Ordinal))
                {
                    failures.Add($"document {i}: python {expected[i]} ours {actual}");
                }
            }
            Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Take(10)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void RunPython(string inputPath, string outputPath)
    {
        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(PythonScript);
        start.ArgumentList.Add(inputPath);
        start.ArgumentList.Add(outputPath);

        // Throws (the test fails) when python3 is not installed.
        using Process python = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        Task<string> stderr = python.StandardError.ReadToEndAsync();
        Task<string> stdout = python.StandardOutput.ReadToEndAsync();
        Assert.True(python.WaitForExit(TimeSpan.FromMinutes(2)), "python3 timed out");
        Assert.True(python.ExitCode == 0, $"python3 failed ({python.ExitCode}): {stderr.Result}{stdout.Result}");
    }

    /// <summary>Random JSON text the strict reader accepts, with every spelling it allows.</summary>
    private sealed class RandomJson(Random random)
    {
        private static readonly string[] Whitespace = ["", "", "", " ", "\n", "\t", "\r\n", "  "];

        public string Document()
        {
            var sb = new StringBuilder();
            if (random.Next(20) == 0)
            {
                // Occasionally a deep one, up to the accepted limit.
                int depth = random.Next(1, StrictJson.MaxDepth + 1);
                for (int i = 0; i < depth - 1; i++)
                {
                    sb.Append(random.Next(2) == 0 ? "[" : "{\"k\":");
                }
                int mark = sb.Length;
                Value(sb, StrictJson.MaxDepth);
                string opened = sb.ToString(0, mark);
                for (int i = opened.Length - 1; i >= 0; i--)
                {
                    if (opened[i] == '[')
                    {
                        sb.Append(']');
                    }
                    else if (opened[i] == '{')
                    {
                        sb.Append('}');
                    }
                }
                return sb.ToString();
            }
            Ws(sb);
            Value(sb, 0);
            Ws(sb);
            return sb.ToString();
        }

        private void Ws(StringBuilder sb) => sb.Append(Whitespace[random.Next(Whitespace.Length)]);

        private void Value(StringBuilder sb, int depth)
        {
            int kind = random.Next(depth >= 5 ? 5 : 8);
            switch (kind)
            {
                case 0:
                case 1:
                    StringLiteral(sb, RandomString(random.Next(0, 16)));
                    break;
                case 2:
                case 3:
                    Number(sb);
                    break;
                case 4:
                    sb.Append(random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" });
                    break;
                case 5:
                    sb.Append('[');
                    int items = random.Next(0, 6);
                    for (int i = 0; i < items; i++)
                    {
                        if (i > 0)
                        {
                            sb.Append(',');
                        }
                        Ws(sb);
                        Value(sb, depth + 1);
                        Ws(sb);
                    }
                    sb.Append(']');
                    break;
                default:
                    sb.Append('{');
                    var keys = new HashSet<string>(StringComparer.Ordinal);
                    int members = random.Next(0, 8);
                    for (int i = 0; i < members; i++)
                    {
                        string key = RandomString(random.Next(0, 5));
                        if (!keys.Add(key))
                        {
                            continue;
                        }
                        if (keys.Count > 1)
                        {
                            sb.Append(',');
                        }
                        Ws(sb);
                        StringLiteral(sb, key);
                        Ws(sb);
                        sb.Append(':');
                        Ws(sb);
                        Value(sb, depth + 1);
                    }
                    sb.Append('}');
                    break;
            }
        }

        private void Number(StringBuilder sb)
        {
            switch (random.Next(6))
            {
                case 0:
                    sb.Append(random.NextInt64(long.MinValue, long.MaxValue).ToString(CultureInfo.InvariantCulture));
                    break;
                case 1:
                    // Big integers, far past 64 bits.
                    if (random.Next(2) == 0)
                    {
                        sb.Append('-');
                    }
                    sb.Append((char)('1' + random.Next(9)));
                    int digits = random.Next(0, 400);
                    for (int i = 0; i < digits; i++)
                    {
                        sb.Append((char)('0' + random.Next(10)));
                    }
                    break;
                case 2:
                    sb.Append(random.Next(-1000, 1000).ToString(CultureInfo.InvariantCulture));
                    break;
                default:
                    // Any finite double, from its bits (subnormals, huge, tiny), as .NET's shortest
                    // round-trip text, sometimes with a lowercase exponent.
                    double value;
                    do
                    {
                        value = BitConverter.Int64BitsToDouble(random.NextInt64(long.MinValue, long.MaxValue));
                    }
                    while (!double.IsFinite(value));
                    if (random.Next(3) == 0)
                    {
                        // Short decimals too, the common case in real payloads.
                        value = Math.Round(random.NextDouble() * 1e6) / 1000;
                    }
                    string text = value.ToString("R", CultureInfo.InvariantCulture);
                    if (!text.Contains('.') && !text.Contains('E'))
                    {
                        text += ".0";
                    }
                    sb.Append(random.Next(2) == 0 ? text.Replace('E', 'e') : text);
                    break;
            }
        }

        private string RandomString(int length)
        {
            var sb = new StringBuilder();
            for (int i = 0; i < length; i++)
            {
                switch (random.Next(10))
                {
                    case 0:
                        sb.Append((char)random.Next(0, 0x20));
                        break;
                    case 1:
                        sb.Append(char.ConvertFromUtf32(random.Next(0x10000, 0x110000)));
                        break;
                    case 2:
                        sb.Append((char)random.Next(0xE000, 0x10000));
                        break;
                    case 3:
                        sb.Append((char)random.Next(0x7F, 0xD800));
                        break;
                    case 4:
                        sb.Append("\"\\/\u007f\u0080\u00e9\u0301\u05d0\u200f\ufeff"[random.Next(10)]);
                        break;
                    default:
                        sb.Append((char)random.Next(0x20, 0x7F));
                        break;
                }
            }
            return sb.ToString();
        }

        private void StringLiteral(StringBuilder sb, string value)
        {
            sb.Append('"');
            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                int style = random.Next(4);
                if (char.IsHighSurrogate(c))
                {
                    // A pair is written either raw or as two \u escapes, never split.
                    if (style == 0)
                    {
                        AppendUnicodeEscape(sb, c);
                        AppendUnicodeEscape(sb, value[++i]);
                    }
                    else
                    {
                        sb.Append(c).Append(value[++i]);
                    }
                    continue;
                }
                if (c is '"' or '\\' || c < 0x20 || style == 0)
                {
                    string? shortForm = c switch
                    {
                        '"' => "\\\"",
                        '\\' => "\\\\",
                        '/' => "\\/",
                        '\n' => "\\n",
                        '\r' => "\\r",
                        '\t' => "\\t",
                        '\b' => "\\b",
                        '\f' => "\\f",
                        _ => null,
                    };
                    if (shortForm is not null && style != 1)
                    {
                        sb.Append(shortForm);
                    }
                    else
                    {
                        AppendUnicodeEscape(sb, c);
                    }
                }
                else
                {
                    sb.Append(c);
                }
            }
            sb.Append('"');
        }

        private void AppendUnicodeEscape(StringBuilder sb, char c) =>
            sb.Append("\\u").Append(((int)c).ToString(random.Next(2) == 0 ? "x4" : "X4", CultureInfo.InvariantCulture));
    }
}
