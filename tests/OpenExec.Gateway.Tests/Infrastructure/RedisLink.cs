using System.Net;
using System.Net.Sockets;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// One instance's own way to a <see cref="RedisServer"/>: a TCP relay on a loopback port that a
/// test can <see cref="Cut"/> (every connection through it closed, new ones closed at once, as a
/// partition between that instance and Redis would) and <see cref="Restore"/>, while the other
/// instances, connected to the server directly, go on.
/// </summary>
public sealed class RedisLink : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly int _target;
    private volatile bool _cut;

    private RedisLink(RedisServer server)
    {
        _target = server.Port;
        _listener.Start();
        _ = TcpAccept.EachAsync(_listener, _stop.Token, client => _ = RelayAsync(client));
    }

    /// <summary>What <c>ConnectionStrings:Redis</c> should say to reach the server through this link.</summary>
    public string Configuration => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public static RedisLink To(RedisServer server) => new(server);

    /// <summary>Closes every connection through the link and refuses new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var client in _open)
            {
                client.Dispose();
            }
            _open.Clear();
        }
    }

    public void Restore() => _cut = false;

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        Cut();
        _stop.Dispose();
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var upstream = new TcpClient();
        lock (_open)
        {
            if (_cut)
            {
                client.Dispose();
                return;
            }
            _open.Add(client);
            _open.Add(upstream);
        }
        try
        {
            await upstream.ConnectAsync(IPAddress.Loopback, _target, _stop.Token);
            var inbound = client.GetStream();
            var outbound = upstream.GetStream();
            // Either direction ending (or a cut) ends both.
            await Task.WhenAny(inbound.CopyToAsync(outbound, _stop.Token), outbound.CopyToAsync(inbound, _stop.Token));
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        finally
        {
            lock (_open)
            {
                _open.Remove(client);
                _open.Remove(upstream);
            }
            client.Dispose();
        }
    }
}
