using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Commands;

/// <summary>Reads an Ed25519 PKCS#8 PEM private key file, naming the file in every error.</summary>
internal static class SigningKeyFile
{
    public static async Task<ReceiptSigningKey> LoadAsync(string path, CancellationToken cancellationToken)
    {
        string pem;
        try
        {
            pem = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.BadInput($"Cannot read the key file {path}: {e.Message}", e);
        }
        try
        {
            return ReceiptSigningKey.FromPem(pem);
        }
        catch (KeyFormatException e)
        {
            throw CliException.BadInput(
                $"{path} is not an Ed25519 private key in PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----'); make one with 'openexec keygen'.", e);
        }
    }
}
