using System.Text;
using System.Text.Json;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

/// <summary>
/// The committed corpus from Vectors/make_clawshield_vectors.py: every expected output was
/// printed by Python's json.dumps(json.loads(x), sort_keys=True, separators=(",", ":")).
/// </summary>
public class ClawShieldVectorTests
{
    private static string VectorsPath => Path.Combine(AppContext.BaseDirectory, "Json", "Vectors", "clawshield_vectors.jsonl");

    [Fact]
    public void EveryVectorCanonicalizesExactlyAsPythonDoes()
    {
        string[] lines = File.ReadAllLines(VectorsPath);
        Assert.True(lines.Length >= 300, $"expected at least 300 vectors, found {lines.Length}");

        var failures = new List<string>();
        int lineNumber = 0;
        foreach (string line in lines)
        {
            lineNumber++;
            using JsonDocument record = JsonDocument.Parse(line);
            string input = record.RootElement.GetProperty("input").GetString()!;
            string expected = record.RootElement.GetProperty("canonical").GetString()!;
            try
            {
                StrictValue value = StrictJson.Parse(Encoding.UTF8.GetBytes(input));
                byte[] actual = ClawShieldJson.Serialize(value);
                if (!actual.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(expected)))
                {
                    failures.Add($"line {lineNumber}: expected {Excerpt(expected)} got {Excerpt(Encoding.UTF8.GetString(actual))}");
                }
            }
            catch (StrictJsonException e)
            {
                failures.Add($"line {lineNumber}: refused ({e.Code}: {e.Message}) {Excerpt(input)}");
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Take(20)));
    }

    [Fact]
    public void CorpusCoversTheTrickyCases()
    {
        string all = File.ReadAllText(VectorsPath);
        // Spot checks that the generator still emits the families the SPEC cares about.
        Assert.Contains(@"\\ud83d\\ude00", all, StringComparison.Ordinal);
        Assert.Contains(@"\\udbff\\udfff", all, StringComparison.Ordinal);
        Assert.Contains(@"\\u007f", all, StringComparison.Ordinal);
        Assert.Contains("9999999999999998.0", all, StringComparison.Ordinal);
        Assert.Contains("1e+16", all, StringComparison.Ordinal);
        Assert.Contains("5e-324", all, StringComparison.Ordinal);
        Assert.Contains("-0.0", all, StringComparison.Ordinal);
        Assert.Contains(new string('[', 64), all, StringComparison.Ordinal);
    }

    private static string Excerpt(string s) => s.Length <= 200 ? s : s[..200] + "…";
}
