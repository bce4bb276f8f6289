using System.CommandLine;
using NSec.Cryptography;
using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Crypto;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Receipts;

/// <summary>
/// The receipt-signing public keys an auditor trusts, by key id: from a file in the
/// <c>/.well-known/openexec-keys</c> format (or PEM public keys), or fetched from a gateway. A key
/// listed with <c>gateways</c> verifies only those gateways' receipts and checkpoints; one listed
/// without (a PEM key, a key set from before gateways were listed) any gateway's.
/// </summary>
internal sealed class TrustedKeys
{
    private readonly Dictionary<string, (PublicKey Key, IReadOnlyList<string>? Gateways)> _keys;

    private TrustedKeys(Dictionary<string, (PublicKey Key, IReadOnlyList<string>? Gateways)> keys, string source)
    {
        _keys = keys;
        Source = source;
    }

    public string Source { get; }

    public IReadOnlyCollection<string> Kids => _keys.Keys;

    /// <summary>The trusted keys that verify what <paramref name="gateway"/> signed.</summary>
    public Func<string, PublicKey?> For(string gateway)
        => kid => _keys.TryGetValue(kid, out var entry) && KeyBinding.Signs(entry.Gateways, gateway) ? entry.Key : null;

    /// <summary>
    /// Why <paramref name="kid"/> gave no key for <paramref name="gateway"/>'s signature: not
    /// trusted at all, or trusted for other gateways only; null when it is trusted for it.
    /// </summary>
    public string? NotTrustedFor(string kid, string gateway)
    {
        if (!_keys.TryGetValue(kid, out var entry))
        {
            return $"key id '{kid}' is not among the trusted keys";
        }
        return KeyBinding.Signs(entry.Gateways, gateway)
            ? null
            : $"key {kid} is the key of gateway {string.Join(", ", entry.Gateways!)} in {Source}, not of {gateway}: one gateway's key cannot vouch for another's chain";
    }

    /// <summary>The <c>--keys</c>, <c>--url</c> and <c>--pin</c> options, shared by verify and audit.</summary>
    internal sealed class Options
    {
        public Option<string> File { get; } = new("--keys")
        {
            Description = "Trusted receipt keys: a file in the /.well-known/openexec-keys format ({\"keys\":[{\"kid\",\"kty\",\"crv\",\"x\",\"gateways\"}]}; a key with \"gateways\" verifies only those gateways' receipts) or PEM public keys.",
            HelpName = "FILE",
        };

        public Option<string> Url { get; } = new("--url")
        {
            Description = "Fetch the keys from URL/.well-known/openexec-keys instead (pin their fingerprints out of band: --pin).",
            HelpName = "URL",
        };

        public Option<string[]> Pin { get; } = new("--pin")
        {
            Description = "Trust only these key ids (fingerprints obtained out of band); repeatable.",
            HelpName = "KID",
            AllowMultipleArgumentsPerToken = false,
        };

        public void AddTo(Command command)
        {
            command.Options.Add(File);
            command.Options.Add(Url);
            command.Options.Add(Pin);
        }

        public async Task<TrustedKeys> LoadAsync(ParseResult parseResult, CliContext context, CancellationToken cancellationToken)
        {
            var file = parseResult.GetValue(File);
            var url = parseResult.GetValue(Url);
            if ((file is null) == (url is null))
            {
                throw CliException.BadInput("Name the trusted receipt keys with exactly one of --keys FILE or --url URL.");
            }
            TrustedKeys keys;
            if (file is not null)
            {
                byte[] bytes;
                try
                {
                    bytes = await System.IO.File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw CliException.BadInput($"Cannot read the key file {file}: {e.Message}", e);
                }
                keys = Parse(bytes, $"key file {file}", ExitCodes.BadInput);
            }
            else
            {
                var keysUrl = GatewayHttp.Combine(GatewayHttp.ParseBaseUrl(url!), "/.well-known/openexec-keys");
                var bytes = await GatewayHttp.GetBytesAsync(context.Http, keysUrl, token: null, cancellationToken).ConfigureAwait(false);
                keys = Parse(bytes, keysUrl.ToString(), ExitCodes.Network);
            }

            var pins = parseResult.GetValue(Pin) ?? [];
            if (pins.Length > 0)
            {
                keys = keys.Pinned(pins);
            }
            await context.Err.WriteLineAsync(
                $"note: trusting {keys._keys.Count} receipt key(s) from {keys.Source}: {string.Join(", ", keys.Kids)}. "
                + (pins.Length > 0
                    ? "Pinned with --pin."
                    : "Auditors should pin key fingerprints (kid) obtained out of band, not from the gateway under audit: --pin KID."))
                .ConfigureAwait(false);
            return keys;
        }
    }

    /// <summary>Parses a key set: <c>{"keys":[...]}</c> JSON, or one or more PEM public keys. Each kid must be the key's own fingerprint.</summary>
    internal static TrustedKeys Parse(byte[] bytes, string source, int exitCode)
    {
        var text = System.Text.Encoding.UTF8.GetString(bytes);
        var keys = new Dictionary<string, (PublicKey Key, IReadOnlyList<string>? Gateways)>(StringComparer.Ordinal);
        if (OpenExec.Core.Text.SecretText.IsPem(text))
        {
            try
            {
                foreach (var key in Ed25519PublicKeys.ParsePem(text))
                {
                    keys.TryAdd(KeyId.For(key), (key, null));
                }
            }
            catch (KeyFormatException e)
            {
                throw new CliException(exitCode, $"{source}: {e.Message}", e);
            }
            return new TrustedKeys(keys, source);
        }

        StrictValue root;
        try
        {
            root = StrictJson.Parse(bytes);
        }
        catch (StrictJsonException e)
        {
            throw new CliException(exitCode, $"{source} is not a key set: {e.Message} Expected {{\"keys\":[{{\"kid\",\"kty\",\"crv\",\"x\"}}]}} or PEM public keys.", e);
        }
        if (root is not StrictObject obj || !obj.TryGet("keys", out var list) || list is not StrictArray array)
        {
            throw new CliException(exitCode, $"{source} is not a key set: expected {{\"keys\":[{{\"kid\",\"kty\",\"crv\",\"x\"}}]}}.");
        }
        for (var i = 0; i < array.Items.Count; i++)
        {
            var (kid, key, gateways) = ParseJwk(array.Items[i], $"{source}: key {i + 1}", exitCode);
            // One kid listed twice (key sets of two deployments given one key file, merged):
            // it signs for the gateways of both entries.
            keys[kid] = keys.TryGetValue(kid, out var listed) ? (listed.Key, KeyBinding.Merge(listed.Gateways, gateways)) : (key, gateways);
        }
        if (keys.Count == 0)
        {
            throw new CliException(exitCode, $"{source} lists no keys.");
        }
        return new TrustedKeys(keys, source);
    }

    private static (string Kid, PublicKey Key, IReadOnlyList<string>? Gateways) ParseJwk(StrictValue value, string where, int exitCode)
    {
        string Field(StrictObject obj, string name) =>
            obj.TryGet(name, out var v) && v is StrictString s ? s.Value : throw new CliException(exitCode, $"{where}: missing string field '{name}'.");

        if (value is not StrictObject jwk)
        {
            throw new CliException(exitCode, $"{where}: expected an object {{\"kid\",\"kty\",\"crv\",\"x\"}}.");
        }
        var kid = Field(jwk, "kid");
        if (Field(jwk, "kty") != "OKP" || Field(jwk, "crv") != "Ed25519")
        {
            throw new CliException(exitCode, $"{where} (kid {kid}): only kty OKP, crv Ed25519 keys sign receipts.");
        }
        if (!Base64Url.TryDecode(Field(jwk, "x"), out var raw) || raw.Length != 32)
        {
            throw new CliException(exitCode, $"{where} (kid {kid}): x must be unpadded base64url of the 32-byte public key.");
        }
        var expected = KeyId.ForRaw(raw);
        if (!string.Equals(kid, expected, StringComparison.Ordinal))
        {
            throw new CliException(exitCode, $"{where}: kid {kid} is not the fingerprint of its key ({expected}); the key set is not genuine.");
        }
        List<string>? gateways = null;
        if (jwk.TryGet("gateways", out var listed))
        {
            // Read strictly: a binding that could not be read must not fall back to "any gateway".
            if (listed is not StrictArray names || names.Items.Count == 0 || names.Items.Any(n => n is not StrictString { Value.Length: > 0 }))
            {
                throw new CliException(exitCode, $"{where} (kid {kid}): 'gateways' must be a list of one or more gateway ids.");
            }
            gateways = [.. names.Items.Select(n => ((StrictString)n).Value)];
        }
        return (kid, PublicKey.Import(SignatureAlgorithm.Ed25519, raw, KeyBlobFormat.RawPublicKey), gateways);
    }

    private TrustedKeys Pinned(string[] pins)
    {
        var kept = new Dictionary<string, (PublicKey Key, IReadOnlyList<string>? Gateways)>(StringComparer.Ordinal);
        foreach (var pin in pins)
        {
            if (_keys.TryGetValue(pin, out var key))
            {
                kept.TryAdd(pin, key);
            }
        }
        if (kept.Count == 0)
        {
            // Keys are never removed from a gateway's key set (SPEC section 6): a pinned key that is
            // not there is a failed verification, not a typo.
            throw new CliException(ExitCodes.VerificationFailed, $"None of the pinned key ids ({string.Join(", ", pins)}) is in {Source}, which lists {string.Join(", ", Kids)}.");
        }
        return new TrustedKeys(kept, Source);
    }
}
