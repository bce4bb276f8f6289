using OpenExec.Core.Text;

namespace OpenExec.Core.Tests.Text;

public class CharRangeTests
{
    [Theory]
    [InlineData('0', '9')]
    [InlineData('\uD800', '\uDFFF')]
    [InlineData('\0', '\uFFFF')]
    [InlineData('a', 'a')]
    public void Agrees_with_MemoryExtensions_on_random_text(char low, char high)
    {
        var random = new Random(20261129);
        char[] alphabet = ['0', '5', '9', '/', ':', 'a', '\0', '\uFFFF', '\uD800', '\uDBFF', '\uDC00', '\uDFFF', '\uD7FF', '\uE000', 'é'];
        for (var i = 0; i < 20_000; i++)
        {
            var text = new char[random.Next(0, 12)];
            for (var k = 0; k < text.Length; k++)
            {
                text[k] = random.Next(4) == 0 ? (char)random.Next(0, 0x10000) : alphabet[random.Next(alphabet.Length)];
            }
            Assert.Equal(text.AsSpan().ContainsAnyInRange(low, high), CharRange.ContainsAnyIn(text, low, high));
            Assert.Equal(text.AsSpan().ContainsAnyExceptInRange(low, high), CharRange.ContainsAnyExcept(text, low, high));
        }
    }

    [Fact]
    public void Allocates_nothing()
    {
        var text = "2026-11-24T18:05:00.123456-and-some-more-text";
        CharRange.ContainsAnyIn(text, '\uD800', '\uDFFF');
        var before = GC.GetAllocatedBytesForCurrentThread();
        var found = CharRange.ContainsAnyIn(text, '\uD800', '\uDFFF') | CharRange.ContainsAnyExcept(text, '0', '9');
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(found);
    }
}
