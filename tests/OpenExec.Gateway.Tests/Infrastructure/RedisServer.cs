using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OpenExec.Gateway.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> child process on a free loopback port, with AOF on and fsync on
/// every write, in its own temporary dir. <see cref="Kill"/> is SIGKILL (a crash, not a
/// shutdown); <see cref="Restart"/> starts it again on the same port and dir, so it reloads its
/// AOF. Tests that use it are named <c>Redis…</c>; they are never skipped: without redis-server
/// they fail and say how to install it.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly string _executable;
    private readonly string[] _extraArgs;
    private Process? _process;

    private RedisServer(string executable, int port, string dir, string[] extraArgs)
    {
        _executable = executable;
        Port = port;
        Dir = dir;
        _extraArgs = extraArgs;
    }

    public int Port { get; }

    public string Dir { get; }

    /// <summary>What <c>ConnectionStrings:Redis</c> should say to reach this server.</summary>
    public string Configuration => $"127.0.0.1:{Port}";

    public static RedisServer Start(params string[] extraArgs)
    {
        var executable = Find() ?? throw new InvalidOperationException(
            "redis-server is not installed, and the Redis tests need a real server: install it (apt-get install -y redis-server) and run the tests again");
        for (var attempt = 1; ; attempt++)
        {
            // The port was free when picked; another process may bind it before redis-server does.
            var server = new RedisServer(executable, FreePort(), TempDir.Create(), extraArgs);
            try
            {
                server.Launch();
                return server;
            }
            catch (InvalidOperationException ex) when (attempt < 5 && ex.Message.Contains("Address already in use", StringComparison.Ordinal))
            {
                server.Dispose();
            }
        }
    }

    /// <summary>SIGKILL: whatever Redis acknowledged is in its AOF (appendfsync always); nothing else survives.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        _process?.Dispose();
        _process = null;
    }

    /// <summary>SIGSTOP: the server holds its connections and answers nothing, as a stalled host would.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT: it reads what waited on its connections, in the order it finds them.</summary>
    public void Resume() => Signal("CONT");

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {_process!.Id}");
        kill.WaitForExit();
    }

    /// <summary>Kills it if it runs, then starts it again on the same port and dir.</summary>
    public void Restart()
    {
        Kill();
        Launch();
    }

    public void Dispose()
    {
        Kill();
        TempDir.Delete(Dir);
    }

    private void Launch()
    {
        var start = new ProcessStartInfo(_executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Dir,
        };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", Dir, "--daemonize", "no" })
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var arg in _extraArgs)
        {
            start.ArgumentList.Add(arg);
        }
        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                break;
            }
            if (Ping(process.Id))
            {
                return;
            }
            Thread.Sleep(50);
        }
        if (process.HasExited)
        {
            process.WaitForExit(); // the last of its output read
        }
        string log;
        lock (output)
        {
            log = output.ToString();
        }
        throw new InvalidOperationException($"redis-server did not come up on port {Port}: {log}");
    }

    /// <summary>
    /// True once the server answers PING (and has finished loading its AOF), and it is this
    /// process that answers: not another server that holds the port.
    /// </summary>
    private bool Ping(int processId)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, Port);
            using var stream = client.GetStream();
            stream.ReadTimeout = 1000;
            stream.Write("PING\r\nINFO server\r\n"u8);
            var reply = new StringBuilder();
            var buffer = new byte[4096];
            var marker = $"process_id:{processId}\r\n";
            while (reply.Length < 65536)
            {
                var n = stream.Read(buffer, 0, buffer.Length);
                if (n == 0)
                {
                    return false;
                }
                reply.Append(Encoding.ASCII.GetString(buffer, 0, n));
                var text = reply.ToString();
                if (!text.StartsWith("+PONG", StringComparison.Ordinal) && text.Length >= 5)
                {
                    return false;
                }
                if (text.Contains("process_id:", StringComparison.Ordinal) && text.IndexOf('\n', text.IndexOf("process_id:", StringComparison.Ordinal)) > 0)
                {
                    return text.Contains(marker, StringComparison.Ordinal);
                }
            }
            return false;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Concat(["/usr/bin", "/usr/local/bin", "/usr/sbin"]))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
