using System.Diagnostics;
using System.Text;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public class W3CTraceIdTests
{
    [Fact]
    public void Its_hex_is_the_Activity_trace_ids_whichever_way_it_is_written()
    {
        Span<byte> utf8 = stackalloc byte[W3CTraceId.HexLength];
        for (var i = 0; i < 1000; i++)
        {
            var activityId = ActivityTraceId.CreateRandom();
            var id = W3CTraceId.From(activityId);
            var hex = activityId.ToHexString();

            Assert.Equal(hex, id.ToString());
            id.WriteHexUtf8(utf8);
            Assert.Equal(hex, Encoding.ASCII.GetString(utf8));
            Assert.Equal(id, W3CTraceId.ParseHex(hex));
            var random = W3CTraceId.NewRandom();
            Assert.Matches("^[0-9a-f]{32}$", random.ToString());
            Assert.NotEqual(new string('0', 32), random.ToString());
            Assert.True(ActivityTraceId.CreateFromString(random.ToString()) != default);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("00000000000000000000000000000000")]
    [InlineData("0AF7651916CD43DD8448EB211C80319C")]
    [InlineData("0af7651916cd43dd8448eb211c80319")]
    [InlineData("0af7651916cd43dd8448eb211c80319c0")]
    [InlineData("0af7651916cd43dd8448eb211c80319g")]
    [InlineData(" af7651916cd43dd8448eb211c80319c")]
    [InlineData("+af7651916cd43dd8448eb211c80319c")]
    public void Only_32_lowercase_hex_digits_not_all_zero_read_as_a_trace_id(string text)
    {
        Assert.False(W3CTraceId.TryParseHex(text, out _));
        Assert.Throws<FormatException>(() => W3CTraceId.ParseHex(text));
    }

    [Fact]
    public void Writing_its_hex_allocates_nothing()
    {
        Span<byte> utf8 = stackalloc byte[W3CTraceId.HexLength];
        var id = W3CTraceId.NewRandom();
        id.WriteHexUtf8(utf8);
        var before = GC.GetAllocatedBytesForCurrentThread();
        W3CTraceId.NewRandom().WriteHexUtf8(utf8);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
