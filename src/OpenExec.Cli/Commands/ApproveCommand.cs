using System.CommandLine;
using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Approvals;

namespace OpenExec.Cli.Commands;

/// <summary>
/// <c>openexec approve</c>: mints a signed ClawShield v1 approval artifact, as the governance
/// layer would. A local stand-in for development, tests and demos: it decides no policy.
/// </summary>
internal static class ApproveCommand
{
    /// <summary>The gateway's default maximum approval lifetime (SPEC section 4), in hours, for messages.</summary>
    private static readonly string DefaultMaxLifetime = $"{ApprovalWindow.DefaultMaxLifetime.TotalHours:0.##} h";

    public static Command Create(CliContext context)
    {
        var key = new Option<string>("--key")
        {
            Description = "The governance private key (PKCS#8 PEM, from 'openexec keygen').",
            HelpName = "FILE",
            Required = true,
        };
        var tenant = new Option<string>("--tenant")
        {
            Description = "The tenant the approval is for (the gateway's CLAWSHIELD_TENANT_ID).",
            HelpName = "T",
            Required = true,
        };
        var ttl = new Option<int>("--ttl")
        {
            Description = $"Seconds until the approval expires (default 300; the gateway refuses more than its OpenExec:MaxApprovalLifetime, {DefaultMaxLifetime} by default).",
            HelpName = "SECONDS",
            DefaultValueFactory = _ => 300,
        };
        var header = new Option<bool>("--header") { Description = "Print the base64url form for the OpenExec-Approval header (proxied calls) instead of JSON." };
        var approvalId = new Option<string>("--approval-id") { Description = "The approval_id (default: a new UUID). The gateway refuses one that is no UUID unless OpenExec:AllowAnyApprovalId is true; a warning says so.", HelpName = "ID" };
        var request = new ActionRequestOptions();

        var command = new Command(
            "approve",
            "Mint a signed ClawShield v1 approval for one exact request: an /execute call (--payload) or a proxied call (--http). "
            + "A local stand-in for the governance layer; prints the artifact JSON on stdout.");
        command.Options.Add(key);
        command.Options.Add(tenant);
        request.AddTo(command);
        command.Options.Add(ttl);
        command.Options.Add(header);
        command.Options.Add(approvalId);
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var seconds = parseResult.GetValue(ttl);
            if (seconds <= 0)
            {
                throw CliException.BadInput("--ttl must be a positive number of seconds.");
            }
            var tenantId = parseResult.GetValue(tenant)!;
            if (tenantId.Length == 0)
            {
                throw CliException.BadInput("--tenant must not be empty.");
            }
            var resolved = await request.ResolveAsync(parseResult, cancellationToken).ConfigureAwait(false);
            using var signingKey = await SigningKeyFile.LoadAsync(parseResult.GetValue(key)!, cancellationToken).ConfigureAwait(false);

            var now = context.Time.GetUtcNow();
            var expires = now.AddSeconds(seconds);
            var artifact = new ApprovalMinter(signingKey).Mint(tenantId, resolved.Hash, now, expires, parseResult.GetValue(approvalId));

            await context.Err.WriteLineAsync(
                $"approved action '{resolved.Action}' ({resolved.Description}) for tenant '{tenantId}': action_hash {resolved.Hash}, "
                + $"expires {artifact.ExpiresAt} UTC, signed by key {signingKey.Kid}").ConfigureAwait(false);
            if (!ApprovalArtifact.IsUuid(artifact.ApprovalId))
            {
                await context.Err.WriteLineAsync("warning: --approval-id is no UUID: the gateway refuses it (400 invalid_approval) unless OpenExec:AllowAnyApprovalId is true.").ConfigureAwait(false);
            }
            if (TimeSpan.FromSeconds(seconds) > ApprovalWindow.DefaultMaxLifetime)
            {
                // Still minted: a gateway may be configured for longer approvals.
                await context.Err.WriteLineAsync(
                    $"warning: --ttl {seconds} is over {DefaultMaxLifetime}, the gateway's default OpenExec:MaxApprovalLifetime: "
                    + "a gateway that keeps the default refuses this approval (403 approval_lifetime).").ConfigureAwait(false);
            }
            await context.Out.WriteLineAsync(parseResult.GetValue(header) ? artifact.ToHeader() : artifact.ToJson()).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }
}
