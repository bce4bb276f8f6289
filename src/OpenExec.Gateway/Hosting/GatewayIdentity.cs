using System.Security.Cryptography;
using OpenExec.Core.Crypto;

namespace OpenExec.Gateway.Hosting;

/// <summary>
/// Who this gateway is: its id (the name of its receipt chain) and its receipt-signing key,
/// both kept in the data dir so that the chain continues across restarts. The data dir is
/// locked for the life of the process: two processes writing one chain would fork it.
/// </summary>
internal sealed class GatewayIdentity : IDisposable
{
    private readonly FileStream _lock;

    private GatewayIdentity(string dataDir, string gatewayId, ReceiptSigningKey signingKey, FileStream dirLock)
    {
        DataDir = dataDir;
        GatewayId = gatewayId;
        SigningKey = signingKey;
        _lock = dirLock;
    }

    public string DataDir { get; }

    public string GatewayId { get; }

    public ReceiptSigningKey SigningKey { get; }

    /// <summary>Opens (creating on first start) the identity in <paramref name="dataDir"/>.</summary>
    public static GatewayIdentity Open(string dataDir, string? configuredKeyPath)
    {
        Directory.CreateDirectory(dataDir);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        FileStream dirLock;
        try
        {
            dirLock = new FileStream(Path.Combine(dataDir, "gateway.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"OpenExec:DataDir '{dataDir}' is in use by another gateway process; give each instance its own data dir", ex);
        }

        var idPath = Path.Combine(dataDir, "gateway-id");
        string gatewayId;
        if (File.Exists(idPath))
        {
            gatewayId = File.ReadAllText(idPath).Trim();
            // An empty or torn id (a power cut, a bad copy) would silently start a second chain
            // under another name: refuse, so that the operator restores the file.
            if (!IsGeneratedId(gatewayId))
            {
                throw new InvalidOperationException($"'{idPath}' does not hold a gateway id (gw- and 16 hex digits); restore it from a backup of the data dir, as the receipt chain continues under that id");
            }
        }
        else
        {
            gatewayId = "gw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            var tmp = idPath + ".tmp";
            using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                file.Write(System.Text.Encoding.ASCII.GetBytes(gatewayId));
                // On disk before the rename, so that a power cut cannot leave an empty id behind.
                file.Flush(flushToDisk: true);
            }
            File.Move(tmp, idPath, overwrite: true);
            // The rename itself on disk too: else a power cut could lose the id after receipts
            // were committed under it, and the next start would begin a second chain.
            Core.IO.DirectorySync.Flush(dataDir);
        }

        var key = configuredKeyPath is { Length: > 0 }
            ? ReceiptSigningKey.FromPem(File.ReadAllText(configuredKeyPath))
            : ReceiptSigningKey.LoadOrCreate(Path.Combine(dataDir, "receipt-signing-key.pem"));
        return new GatewayIdentity(dataDir, gatewayId, key, dirLock);
    }

    public void Dispose() => _lock.Dispose();

    /// <summary>The form <see cref="Open"/> generates: <c>gw-</c> and 16 lowercase hex digits.</summary>
    private static bool IsGeneratedId(string id)
        => id.Length == 19 && id.StartsWith("gw-", StringComparison.Ordinal) && !id.AsSpan(3).ContainsAnyExcept("0123456789abcdef");
}
