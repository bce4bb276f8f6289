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
        var existed = Directory.Exists(dataDir);
        Directory.CreateDirectory(dataDir);
        if (!OperatingSystem.IsWindows())
        {
            OwnDirectory(dataDir, existed);
        }
        FileStream dirLock;
        try
        {
            dirLock = new FileStream(Path.Combine(dataDir, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"OpenExec:DataDir '{dataDir}' is in use by another gateway process; give each instance its own data dir", ex);
        }

        try
        {
            return OpenLocked(dataDir, configuredKeyPath, dirLock);
        }
        catch
        {
            // Refused: the lock goes with it, so that nothing in this process holds the data dir.
            dirLock.Dispose();
            throw;
        }
    }

    private static GatewayIdentity OpenLocked(string dataDir, string? configuredKeyPath, FileStream dirLock)
    {
        var idPath = Path.Combine(dataDir, IdFile);
        var ledgerPath = Path.Combine(dataDir, LedgerFile);
        if (File.Exists(idPath) && !File.Exists(ledgerPath))
        {
            // The ledger was removed (moved aside as damaged, say) but not the id: the chain would
            // start again at seq 1 under the same id, a second receipt at each seq it had already
            // signed (a fork), and the nonces it had used would run again. (A receipt key alone
            // is no such sign: an operator may place one in a new data dir, and a new id is a new chain.)
            throw new InvalidOperationException(
                $"'{idPath}' names this data dir's receipt chain, but its ledger '{ledgerPath}' is missing: the chain's receipts and used nonces were removed, and starting would sign its seqs again under the same gateway id (a fork of the chain). " +
                "Restore the data dir from its latest backup (nonces used after it was taken run again: README, \"A restored backup\"); or, to start a new chain under a new gateway id, move the whole data dir aside (gateway-id and receipt-signing-key.pem too), knowing that nonces used before would run again");
        }
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
        else if (HasBeenOpened(ledgerPath))
        {
            // The id was removed (or lost) beside a ledger that holds a chain: a new id would
            // start a second chain in the same ledger, and the earlier receipts, whose keys the
            // ledger then lists under the new id, would no longer verify.
            throw new InvalidOperationException(
                $"the data dir's ledger '{ledgerPath}' was opened under a gateway id, but '{idPath}', which names its chain, is missing: starting would begin another chain in the same ledger under a new gateway id, and any receipts already signed would no longer verify. " +
                $"Restore '{idPath}' from a backup of the data dir (its one line is the id the receipts name: sqlite3 '{ledgerPath}' \"SELECT DISTINCT gateway FROM receipts\"); or, to start a new chain, move the whole data dir aside, knowing that nonces used before would run again");
        }
        else
        {
            if (!File.Exists(ledgerPath))
            {
                // A new data dir: the ledger's file (empty, which SQLite opens as an empty
                // database) durably before the id, so that an id is never found without its
                // ledger when this first start ends (killed, a power cut) before the store opens.
                Core.IO.DurableFile.Write(ledgerPath, [], ownerOnly: false, overwrite: false);
            }
            gatewayId = "gw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
            // Durably: else a power cut could lose the id after receipts were committed under it,
            // and the next start would begin a second chain.
            Core.IO.DurableFile.Write(idPath, System.Text.Encoding.ASCII.GetBytes(gatewayId), ownerOnly: false, overwrite: true);
        }

        var key = configuredKeyPath is { Length: > 0 }
            ? ConfiguredKey(configuredKeyPath)
            : ReceiptSigningKey.LoadOrCreate(Path.Combine(dataDir, SigningKeyFile));
        return new GatewayIdentity(dataDir, gatewayId, key, dirLock);
    }

    /// <summary>The key <c>OpenExec:ReceiptKeyPath</c> names, its problems said with its path.</summary>
    private static ReceiptSigningKey ConfiguredKey(string path)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidOperationException($"OpenExec:ReceiptKeyPath '{path}' is a directory: name the key's PEM file");
        }
        try
        {
            return ReceiptSigningKey.FromPem(File.ReadAllText(path));
        }
        catch (KeyFormatException ex)
        {
            throw new KeyFormatException($"OpenExec:ReceiptKeyPath '{path}': {ex.Message}", ex);
        }
    }

    /// <summary>The ledger's SQLite database in the data dir: receipts, signing keys and (embedded store) claims.</summary>
    public const string LedgerFile = "openexec.db";

    /// <summary>The data dir's lock, held for the life of the process.</summary>
    private const string LockFile = "gateway.lock";

    /// <summary>The file that names the data dir's receipt chain.</summary>
    private const string IdFile = "gateway-id";

    /// <summary>The generated receipt-signing key (when OpenExec:ReceiptKeyPath names none).</summary>
    private const string SigningKeyFile = "receipt-signing-key.pem";

    /// <summary>Where the data protection keys for YARP's session-affinity cookies are kept.</summary>
    public const string DataProtectionKeysDir = "data-protection-keys";

    /// <summary>The file that says this data dir's claims live in Redis.</summary>
    public const string RedisStoreMarker = "store-redis";

    /// <summary>
    /// Records (with Redis) or checks (embedded store) where this data dir's claims live. Once run
    /// with Redis, its used nonces are in Redis, not in the data dir's claim table: started without
    /// Redis (an OPENEXEC_REDIS lost in a deployment), the embedded store would take every one of
    /// them for free, and requests already run would run again. Refused, naming the way back.
    /// </summary>
    public void CheckStore(bool redis)
    {
        var marker = Path.Combine(DataDir, RedisStoreMarker);
        if (redis)
        {
            if (!File.Exists(marker))
            {
                Core.IO.DurableFile.Write(marker, "claims of this data dir live in Redis\n"u8, ownerOnly: false, overwrite: true);
            }
            return;
        }
        if (File.Exists(marker))
        {
            throw new InvalidOperationException(
                $"this data dir was last run with the Redis store, and ConnectionStrings:Redis (OPENEXEC_REDIS) is not set: the nonces it used are kept in Redis, and the embedded store would take them for free. " +
                $"Set the Redis connection again. To move back to the embedded store on purpose, wait until OpenExec:NonceRetention has passed since the last request under Redis, then delete '{marker}'");
        }
        if (Store.SqliteClaimTable.ReceiptsWithoutClaimTable(Path.Combine(DataDir, LedgerFile)))
        {
            // Run with Redis by a version from before the marker: its ledger has receipts and never a claim table.
            throw new InvalidOperationException(
                "this data dir was run with the Redis store by an earlier version (its ledger holds receipts and no claims), and ConnectionStrings:Redis (OPENEXEC_REDIS) is not set: the nonces it used are kept in Redis, and the embedded store would take them for free. " +
                $"Set the Redis connection again (the data dir is then marked '{RedisStoreMarker}'). To move to the embedded store on purpose, start it once with Redis, then follow what this refusal says without it");
        }
    }

    public void Dispose() => _lock.Dispose();

    /// <summary>What the gateway keeps in its data dir besides the ledger's files (and what a file system's root holds).</summary>
    private static readonly string[] OwnEntries = [LockFile, IdFile, SigningKeyFile, RedisStoreMarker, DataProtectionKeysDir, "lost+found"];

    /// <summary>
    /// The data dir is the gateway's alone: set to owner-only (0700). A directory that others may
    /// write to (group or other write: /tmp, a shared drop) and that holds what is not the
    /// gateway's is refused instead: made owner-only, the others would lose their files' directory
    /// (the sticky bit too), and left as it is, they could rename or plant files beside the ledger.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static void OwnDirectory(string dataDir, bool existed)
    {
        var mode = File.GetUnixFileMode(dataDir);
        if (existed && (mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            var others = Directory.EnumerateFileSystemEntries(dataDir).Select(Path.GetFileName)
                .Where(name => !OwnEntries.Contains(name, StringComparer.Ordinal) && !name!.StartsWith(LedgerFile, StringComparison.Ordinal) && !name.EndsWith(".tmp", StringComparison.Ordinal))
                .Take(3).ToList();
            if (others.Count > 0)
            {
                throw new InvalidOperationException(
                    $"OpenExec:DataDir '{dataDir}' is a shared directory (others may write to it: mode {Convert.ToString((int)mode, 8)}) holding files that are not the gateway's ('{string.Join("', '", others)}'...): give the gateway a directory of its own, such as '{Path.Combine(dataDir, "openexec")}', which it creates owner-only");
            }
        }
        File.SetUnixFileMode(dataDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>
    /// Whether the ledger was ever opened as a database (SQLite writes its header, or its WAL,
    /// when it creates the schema): a first start writes it empty, before the id, and an empty
    /// one is a new data dir whose first start ended early.
    /// </summary>
    private static bool HasBeenOpened(string ledgerPath)
        => new FileInfo(ledgerPath) is { Exists: true, Length: > 0 } || new FileInfo(ledgerPath + "-wal") is { Exists: true, Length: > 0 };

    /// <summary>The form <see cref="Open"/> generates: <c>gw-</c> and 16 lowercase hex digits.</summary>
    private static bool IsGeneratedId(string id)
        => id.Length == 19 && id.StartsWith("gw-", StringComparison.Ordinal) && !id.AsSpan(3).ContainsAnyExcept("0123456789abcdef");
}
