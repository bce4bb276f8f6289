using System.Net;
using System.Net.Sockets;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A loopback port where a TCP connect never completes, as with a firewalled or dead host: a
/// listener that never accepts, its accept queue filled, so the kernel drops every further SYN
/// (Linux) and the connecting side keeps retrying until it gives up.
/// </summary>
public sealed class UnansweredListener : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _queued = [];

    private UnansweredListener(Socket listener) => _listener = listener;

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndPoint!).Port}/";

    public static async Task<UnansweredListener> StartAsync()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var result = new UnansweredListener(listener);
        for (var i = 0; i < 16; i++)
        {
            var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            // Long enough that a connect the kernel completed at once is never taken for a hung
            // one on a busy machine.
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                await client.ConnectAsync(listener.LocalEndPoint!, wait.Token);
                result._queued.Add(client);
            }
            catch (OperationCanceledException)
            {
                // The queue is full: this connect hung, as every later one will.
                client.Dispose();
                return result;
            }
        }
        result.Dispose();
        throw new InvalidOperationException("The listener's accept queue never filled; connects to it would complete");
    }

    public void Dispose()
    {
        foreach (var socket in _queued)
        {
            socket.Dispose();
        }
        _listener.Dispose();
    }
}
