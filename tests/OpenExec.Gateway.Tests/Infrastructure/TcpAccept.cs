using System.Net.Sockets;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>The accept loop of the hand-written test servers.</summary>
internal static class TcpAccept
{
    /// <summary>Hands every connection the listener accepts to <paramref name="serve"/>, until stopped.</summary>
    public static async Task EachAsync(TcpListener listener, CancellationToken stop, Action<TcpClient> serve)
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stop);
            }
            catch (Exception)
            {
                return;
            }
            serve(client);
        }
    }
}
