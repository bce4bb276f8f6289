using System.Buffers;
using System.Text;
using OpenExec.Core.Buffers;
using OpenExec.Gateway.Proxy;

namespace OpenExec.Gateway.Tests.Proxy;

public sealed class ForwardedRequestBodyTests
{
    [Fact]
    public async Task Each_read_of_the_body_is_progress_of_the_call()
    {
        // A backend that takes a large body slowly holds the call past its timeout, chunk by
        // chunk: each chunk it takes renews the claim's lease, as each chunk of an answer does.
        using var held = new PooledBufferWriter(16);
        held.Write(Encoding.UTF8.GetBytes("{\"amount\":10}"));
        var progress = new Progress();
        using var body = ForwardedRequestBody.Over(held, progress);

        var chunk = new byte[5];
        var read = new List<byte>();
        int n;
        while ((n = await body.ReadAsync(chunk)) > 0)
        {
            read.AddRange(chunk.AsSpan(0, n).ToArray());
        }

        Assert.Equal("{\"amount\":10}", Encoding.UTF8.GetString(read.ToArray()));
        Assert.Equal(4, progress.Count);
        Assert.Equal(13, body.Length);
    }

    [Fact]
    public async Task Once_the_forwarder_is_done_a_read_fails_rather_than_send_a_reused_buffer()
    {
        // The pooled buffer goes back to the pool when the call ends; a send still reading it
        // (a failure path that does not wait for the request body) would have sent the bytes of
        // whichever request rented it next.
        using var held = new PooledBufferWriter(16);
        held.Write("secret"u8);
        var body = ForwardedRequestBody.Over(held, new Progress());
        await body.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => _ = await body.ReadAsync(new byte[8]));
        Assert.Throws<ObjectDisposedException>(() => _ = body.Read(new byte[8], 0, 8));
        Assert.False(body.CanRead);
    }

    [Fact]
    public async Task No_read_copies_from_the_buffer_once_the_dispose_returned()
    {
        // The dispose races the forwarder's reads: once it returns, the buffer may be another
        // request's, so a read either finished before it or fails; none copies bytes after it.
        for (var round = 0; round < 200; round++)
        {
            using var held = new PooledBufferWriter(4096);
            held.Write(Enumerable.Repeat((byte)'a', 4096).ToArray());
            var body = ForwardedRequestBody.Over(held, new Progress());
            using var started = new ManualResetEventSlim();
            var reader = Task.Run(() =>
            {
                var chunk = new byte[4096];
                started.Set();
                while (true)
                {
                    try
                    {
                        body.Position = 0;
                        var n = body.Read(chunk, 0, chunk.Length);
                        if (chunk.AsSpan(0, n).ContainsAnyExcept((byte)'a'))
                        {
                            return false;
                        }
                    }
                    catch (ObjectDisposedException)
                    {
                        return true;
                    }
                }
            });
            started.Wait();
            body.Dispose();
            // What the next renter of the buffer would write.
            System.Runtime.InteropServices.MemoryMarshal.AsMemory(held.WrittenMemory).Span.Fill((byte)'x');
            Assert.True(await reader, "a read copied the buffer's next contents");
        }
    }

    private sealed class Progress : ForwardedRequestBody.IProgress
    {
        public int Count { get; private set; }

        public void Progressed() => Count++;
    }
}
