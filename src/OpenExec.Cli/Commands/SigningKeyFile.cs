using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Commands;

/// <summary>Reads an Ed25519 PKCS#8 PEM private key file, naming the file in every error.</summary>
internal static class SigningKeyFile
{
    public static async Task<ReceiptSigningKey> LoadAsync(string path, CancellationToken cancellationToken)
    {
        if (OpenExec.Core.Text.SecretText.IsPem(path))
        {
            // Named in the error as a path would be: the private key printed to the terminal.
            throw CliException.BadInput("--key takes the path of the PEM key file, not the key itself: write the key to a file (openexec keygen does) and name that file.");
        }
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
