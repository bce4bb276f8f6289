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

            // Both directories are checked before either half is written: never a private key
            // without its public half.
            AtomicFile.DirectoryOf(privatePath);
            AtomicFile.DirectoryOf(publicPath);
            using var key = ReceiptSigningKey.Generate();
            AtomicFile.Write(privatePath, Encoding.ASCII.GetBytes(key.ExportPrivatePem()), ownerOnly: true, overwrite);
            AtomicFile.Write(publicPath, Encoding.ASCII.GetBytes(key.ExportPublicPem()), ownerOnly: false, overwrite);
            await context.Out.WriteLineAsync($"private key: {privatePath} (owner-only)").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"public key:  {publicPath}").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"kid:         {key.Kid}").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
