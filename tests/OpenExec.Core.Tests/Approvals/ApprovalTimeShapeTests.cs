using System.Text.RegularExpressions;
using OpenExec.Core.Approvals;

namespace OpenExec.Core.Tests.Approvals;

/// <summary>
/// Approval timestamps' shape is read by hand, as the regex it replaced read it (kept here as the
/// oracle): the same verdict, fraction and offset on every string, and no allocation per timestamp.
/// </summary>
public sealed partial class ApprovalTimeShapeTests
{
    [GeneratedRegex(@"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?<fraction>\.[0-9]{1,9})?(?<offset>Z|[+-][0-9]{2}:[0-9]{2})?\z", RegexOptions.CultureInvariant)]
    private static partial Regex Oracle();

    private static void AssertSameAsOracle(string text)
    {
        var match = Oracle().Match(text);
        var ok = ApprovalTime.TryShape(text, out var fraction, out var offset);
        Assert.True(match.Success == ok, $"'{text}': regex {match.Success}, by hand {ok}");
        if (ok)
        {
            Assert.Equal(match.Groups["fraction"].Length, fraction);
            Assert.Equal(match.Groups["offset"].Length, offset);
        }
    }

    [Theory]
    [InlineData("2026-11-24T18:05:00")]
    [InlineData("2026-11-24T18:05:00Z")]
    [InlineData("2026-11-24T18:05:00.1")]
    [InlineData("2026-11-24T18:05:00.123456789")]
    [InlineData("2026-11-24T18:05:00.1234567890")]
    [InlineData("2026-11-24T18:05:00.")]
    [InlineData("2026-11-24T18:05:00.Z")]
    [InlineData("2026-11-24T18:05:00+23:59")]
    [InlineData("2026-11-24T18:05:00.5-00:30")]
    [InlineData("2026-11-24T18:05:00+0200")]
    [InlineData("2026-11-24T18:05:00+2:00")]
    [InlineData("2026-11-24T18:05:00z")]
    [InlineData("2026-11-24t18:05:00")]
    [InlineData("2026-11-24T18:05:00Z\n")]
    [InlineData("2026-11-24T18:05:00\n")]
    [InlineData("2026-11-24 18:05:00")]
    [InlineData("2026-11-24T18:05")]
    [InlineData("٢٠٢٦-11-24T18:05:00")]
    [InlineData("2026-11-24T18:05:00+02:00Z")]
    [InlineData("2026-11-24T18:05:00ZZ")]
    [InlineData("")]
    public void Edge_cases_read_as_the_regex_read_them(string text) => AssertSameAsOracle(text);

    [Fact]
    public void Random_strings_near_the_shape_read_as_the_regex_read_them()
    {
        var random = new Random(20261129);
        const string Alphabet = "0123456789-T:.Z+z t\n٣";
        var valid = "2026-11-24T18:05:00.123456+05:30";
        for (var n = 0; n < 200_000; n++)
        {
            var chars = valid.ToCharArray(0, random.Next(17, valid.Length + 1)).ToList();
            for (var edits = random.Next(0, 4); edits > 0; edits--)
            {
                var at = random.Next(chars.Count + 1);
                switch (random.Next(3))
                {
                    case 0 when at < chars.Count: chars[at] = Alphabet[random.Next(Alphabet.Length)]; break;
                    case 1: chars.Insert(at, Alphabet[random.Next(Alphabet.Length)]); break;
                    case 2 when at < chars.Count: chars.RemoveAt(at); break;
                }
            }
            AssertSameAsOracle(new string([.. chars]));
        }
    }

    [Fact]
    public void Reading_a_timestamp_allocates_nothing()
    {
        string[] stamps = ["2026-11-24T18:05:00.123456", "2026-11-24T18:05:00.123456789+02:00", "2026-11-24T18:05:00Z"];
        foreach (var stamp in stamps)
        {
            Assert.True(ApprovalTime.TryParse(stamp, out _));
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            foreach (var stamp in stamps)
            {
                ApprovalTime.TryParse(stamp, out _);
            }
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
