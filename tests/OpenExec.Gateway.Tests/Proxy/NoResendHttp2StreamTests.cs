using OpenExec.Gateway.Proxy;

namespace OpenExec.Gateway.Tests.Proxy;

public sealed class NoResendHttp2StreamTests
{
    private static byte[] Frame(byte type, int stream, params byte[] payload)
        => [(byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, type, 0, (byte)(stream >> 24), (byte)(stream >> 16), (byte)(stream >> 8), (byte)stream, .. payload];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(9)]
    [InlineData(4096)]
    public void Only_the_signals_that_invite_a_resend_are_rewritten_however_the_frames_are_split(int readSize)
    {
        // A frame may arrive in any number of reads: the rewrite follows frame boundaries.
        byte[] frames =
        [
            .. Frame(0x4, 0, 0, 3, 0, 0, 0, 100),                      // SETTINGS
            .. Frame(0x3, 1, 0, 0, 0, 0x7),                            // RST_STREAM REFUSED_STREAM
            .. Frame(0x0, 3, 0, 0, 0, 0x7, 1, 2),                      // DATA that looks like one
            .. Frame(0x3, 5, 0, 0, 0, 0x2),                            // RST_STREAM INTERNAL_ERROR
            .. Frame(0x3, 7, 0, 0, 0, 0xd),                            // RST_STREAM HTTP_1_1_REQUIRED
            .. Frame(0x7, 0, 0, 0, 0, 3, 0, 0, 0, 0, (byte)'x'),       // GOAWAY last stream 3, NO_ERROR
        ];
        var expected = (byte[])frames.Clone();
        expected[15 + 9 + 3] = 0x8;                           // REFUSED_STREAM -> CANCEL
        expected[56 + 9 + 3] = 0x8;                           // HTTP_1_1_REQUIRED -> CANCEL
        var goAway = 69 + 9;
        expected[goAway] = 0x7f;                              // last stream id: all of them
        expected[goAway + 1] = expected[goAway + 2] = expected[goAway + 3] = 0xff;
        Assert.Equal(goAway + 9, frames.Length);

        using var stream = new NoResendHttp2Stream(new MemoryStream(frames));
        var read = new List<byte>();
        var buffer = new byte[readSize];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            read.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        Assert.Equal(expected, read.ToArray());
    }
}
