using OpenExec.Core.Approvals;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Core.Text;

namespace OpenExec.Core.Tests.Text;

public class InputTextTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("abc", "abc")]
    public void Short_text_is_kept_whole(string text, string expected)
        => Assert.Equal(expected, InputText.Abbreviate(text));

    [Fact]
    public void Text_of_exactly_the_bound_is_kept_whole()
    {
        var text = new string('a', 62) + "😀";
        Assert.Equal(text, InputText.Abbreviate(text));
    }

    [Fact]
    public void Long_text_is_cut_to_its_prefix_and_marked()
        => Assert.Equal(new string('k', 64) + "…", InputText.Abbreviate(new string('k', 10_000)));

    [Fact]
    public void A_cut_never_splits_a_surrogate_pair()
    {
        // The 64th unit is the first half of 😀: a plain cut left a lone surrogate (shown as U+FFFD).
        var text = new string('a', 63) + "😀" + "tail";
        var cut = InputText.Abbreviate(text);
        Assert.Equal(new string('a', 63) + "…", cut);
        Assert.True(System.Text.Unicode.Utf8.FromUtf16(cut, new byte[256], out _, out _, replaceInvalidSequences: false) == System.Buffers.OperationStatus.Done);
    }

    [Fact]
    public void A_duplicate_keys_refusal_quotes_no_half_of_a_surrogate_pair()
    {
        var key = new string('a', 63) + "😀x";
        var json = System.Text.Encoding.UTF8.GetBytes($"{{\"{key}\":1,\"{key}\":2}}");
        var e = Assert.Throws<StrictJsonException>(() => StrictJson.Parse(json));
        Assert.Contains($"'{new string('a', 63)}…'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusals_that_name_a_sent_key_quote_a_bounded_prefix()
    {
        // An approval artifact's or a receipt's unknown field was quoted whole: a key of 1 MiB
        // made a 1 MiB error message.
        var key = new string('x', 100_000);
        StrictObject Extra() => new([new(key, new StrictString("v"))]);

        var approval = Assert.Throws<ApprovalFormatException>(() => ApprovalArtifact.Parse(Extra()));
        var body = Assert.Throws<ReceiptFormatException>(() => ReceiptBody.FromStrictValue(Extra()));
        var document = Assert.Throws<ReceiptFormatException>(() => ReceiptDocument.Parse(Extra()));

        foreach (var message in new[] { approval.Message, body.Message, document.Message })
        {
            Assert.Contains($"unknown field '{new string('x', 64)}…'", message, StringComparison.Ordinal);
            Assert.True(message.Length < 200, message.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
