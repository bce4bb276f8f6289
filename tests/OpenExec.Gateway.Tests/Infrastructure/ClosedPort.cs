using System.Net;
using System.Net.Sockets;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A loopback port where nothing listens, held for as long as the test runs: a socket bound to
/// it that never listens, so every connect is refused and no other process can take the port
/// meanwhile (a port merely found free could be bound by anyone before the test uses it).
/// </summary>
public sealed class ClosedPort : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public ClosedPort() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    /// <summary><c>http://127.0.0.1:PORT/</c>.</summary>
    public string Url => $"http://127.0.0.1:{Port}/";

    public void Dispose() => _socket.Dispose();
}
