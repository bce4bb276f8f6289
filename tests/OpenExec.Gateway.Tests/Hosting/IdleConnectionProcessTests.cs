using System.Net;
using System.Net.Sockets;
using OpenExec.Gateway.Tests.Infrastructure;

namespace OpenExec.Gateway.Tests.Hosting;

/// <summary>
/// Connections that never send a byte, held open: Kestrel keeps each until its keep-alive
/// timeout, and with no connection limit they used up the process's file descriptors, after
/// which nothing was served and the runtime aborted ("Out of memory."). The gateway now limits
/// client connections below its descriptor limit: those beyond it are closed as they come.
/// </summary>
public sealed class IdleConnectionProcessTests : IDisposable
{
    private readonly string _root = TempDir.Create();

    public void Dispose() => TempDir.Delete(_root);

    [Fact]
    public async Task Idle_connections_beyond_the_descriptor_limit_are_closed_and_the_gateway_keeps_running()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        await using var gateway = await GatewayProcess.StartAsync(Path.Combine(_root, "data"), maxOpenFiles: 1000);
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 1600; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                idle.Add(socket);
                try
                {
                    await socket.ConnectAsync(IPAddress.Loopback, gateway.BaseAddress.Port);
                }
                catch (SocketException)
                {
                    // A full accept queue: the point is the gateway's side, not this one.
                }
            }
            // Held past the time the unlimited gateway took to die.
            await Task.Delay(TimeSpan.FromSeconds(8));
            Assert.False(gateway.HasExited, gateway.Output);
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }

        // The idle ones gone, it serves again.
        var served = false;
        for (var attempt = 0; attempt < 20 && !served; attempt++)
        {
            try
            {
                served = (await gateway.Client.GetAsync("/health")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
            }
        }
        Assert.True(served, gateway.Output);
        Assert.Contains("maximum number of concurrent connections", gateway.Output, StringComparison.Ordinal);
    }
}

public sealed class ConnectionLimitTests
{
    [Theory]
    [InlineData("Max open files            20000                20000                files", 9872L)]
    [InlineData("Max open files            1000                 4096                 files", 372L)]
    [InlineData("Max open files            300                  300                  files", 64L)]
    [InlineData("Max open files            unlimited            unlimited            files", null)]
    [InlineData("Max processes             100                  100                  processes", null)]
    public void The_default_is_half_the_descriptors_left_after_the_reserve(string line, long? expected)
        => Assert.Equal(expected, OpenExec.Gateway.Hosting.ConnectionLimit.FromLimits("Limit                     Soft Limit           Hard Limit           Units\n" + line + "\n"));
}
