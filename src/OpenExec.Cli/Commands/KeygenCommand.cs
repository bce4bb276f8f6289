using System.CommandLine;
using System.Text;
using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Crypto;

namespace OpenExec.Cli.Commands;

/// <summary><c>openexec keygen</c>: a new Ed25519 key pair as PEM files (PKCS#8 private, SubjectPublicKeyInfo public).</summary>
internal static class KeygenCommand
{
    public static Command Create(CliContext context)
    {
        var privateFile = new Option<string>("--private")
        {
            Description = "Where to write the private key (PKCS#8 PEM); created owner-only (0600).",
            HelpName = "FILE",
            Required = true,
        };
        var publicFile = new Option<string>("--public")
        {
            Description = "Where to write the public key (SubjectPublicKeyInfo PEM), e.g. for CLAWSHIELD_PUBLIC_KEY.",
            HelpName = "FILE",
            Required = true,
        };
        var force = new Option<bool>("--force") { Description = "Replace existing files (otherwise an existing file is never overwritten)." };

        var command = new Command("keygen", "Generate an Ed25519 key pair in PEM files, e.g. a governance key for approvals.")
        {
            privateFile,
            publicFile,
            force,
        };
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var privatePath = parseResult.GetValue(privateFile)!;
            var publicPath = parseResult.GetValue(publicFile)!;
            var overwrite = parseResult.GetValue(force);
            if (string.Equals(Path.GetFullPath(privatePath), Path.GetFullPath(publicPath), StringComparison.Ordinal))
            {
                throw CliException.BadInput("--private and --public name the same file: give two different paths.");
            }
            if (!overwrite)
            {
                foreach (var path in new[] { privatePath, publicPath })
                {
                    if (File.Exists(path))
                    {
                        throw CliException.BadInput($"{path} already exists; nothing was written. Pass --force to replace it.");
                    }
                }
            }

            using var key = ReceiptSigningKey.Generate();
            WriteAtomically(privatePath, key.ExportPrivatePem(), ownerOnly: true, overwrite);
            WriteAtomically(publicPath, key.ExportPublicPem(), ownerOnly: false, overwrite);
            await context.Out.WriteLineAsync($"private key: {privatePath} (owner-only)").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"public key:  {publicPath}").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"kid:         {key.Kid}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Writes a new file beside <paramref name="path"/> and moves it into place, so a reader never
    /// sees half a key. A private key's mode is set at creation, never readable by others even briefly.
    /// </summary>
    private static void WriteAtomically(string path, string text, bool ownerOnly, bool overwrite)
    {
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            throw CliException.BadInput($"The directory {directory} does not exist: create it first.");
        }
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (ownerOnly && !OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(Encoding.ASCII.GetBytes(text));
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temp, full, overwrite);
            }
            catch (IOException e) when (!overwrite && File.Exists(full))
            {
                throw CliException.BadInput($"{path} already exists; not overwritten. Pass --force to replace it.", e);
            }
            Core.IO.DirectorySync.Flush(directory);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
