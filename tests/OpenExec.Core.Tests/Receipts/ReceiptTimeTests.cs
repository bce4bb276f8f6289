using System.Text;
using OpenExec.Core.Receipts;

namespace OpenExec.Core.Tests.Receipts;

public class ReceiptTimeTests
{
    [Fact]
    public void WriteUtf8_writes_what_Format_formats()
    {
        var random = new Random(27);
        DateTimeOffset[] edges =
        [
            DateTimeOffset.MinValue, DateTimeOffset.MaxValue, DateTimeOffset.UnixEpoch,
            new(2026, 11, 25, 23, 59, 59, TimeSpan.FromHours(-5)), new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.FromHours(14)).AddTicks(9),
        ];
        var samples = edges.Concat(Enumerable.Range(0, 5000).Select(_ =>
            new DateTimeOffset(random.NextInt64(DateTime.MinValue.Ticks + TimeSpan.TicksPerDay, DateTime.MaxValue.Ticks - TimeSpan.TicksPerDay), TimeSpan.FromMinutes(random.Next(-14 * 60, 14 * 60 + 1)))));
        Span<byte> utf8 = stackalloc byte[ReceiptTime.Length];
        foreach (var time in samples)
        {
            ReceiptTime.WriteUtf8(time, utf8);
            Assert.Equal(ReceiptTime.Format(time), Encoding.ASCII.GetString(utf8));
        }
    }

    [Fact]
    public void WriteUtf8_allocates_nothing()
    {
        Span<byte> utf8 = stackalloc byte[ReceiptTime.Length];
        var now = DateTimeOffset.UtcNow;
        ReceiptTime.WriteUtf8(now, utf8);
        var before = GC.GetAllocatedBytesForCurrentThread();
        ReceiptTime.WriteUtf8(now, utf8);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
