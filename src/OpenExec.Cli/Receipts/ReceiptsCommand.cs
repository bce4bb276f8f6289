using System.CommandLine;
using System.Globalization;
using System.Text;
using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;

namespace OpenExec.Cli.Receipts;

/// <summary><c>openexec receipts export | verify | audit</c>: the auditor's side of SPEC section 6.</summary>
internal static class ReceiptsCommand
{
    /// <summary>Where an audit token may come from instead of <c>--token</c> (seen by anyone running <c>ps</c>).</summary>
    internal const string AuditTokenVariable = "OPENEXEC_AUDIT_TOKEN";

    /// <summary>The gateway's largest page (SPEC section 2).</summary>
    private const int PageSize = 10000;

    public static Command Create(CliContext context) => new("receipts", "Export, verify and audit signed receipts.")
    {
        ExportCommand(context),
        VerifyCommand(context),
        AuditCommand(context),
    };

    private static Command ExportCommand(CliContext context)
    {
        var url = new Option<string>("--url") { Description = "The gateway's base URL, e.g. http://127.0.0.1:5000.", HelpName = "URL", Required = true };
        var after = new Option<long>("--after") { Description = "Export receipts after this seq (exclusive; default 0: the whole chain).", HelpName = "SEQ" };
        var gateway = new Option<string>("--gateway") { Description = "The gateway id whose chain to export (default: the answering gateway's own).", HelpName = "ID" };
        var token = new Option<string>("--token") { Description = $"An audit token, sent as 'Authorization: Bearer', when the gateway sets OpenExec:AuditTokens (default: the environment variable {AuditTokenVariable}, which, unlike a command-line argument, other local users cannot read).", HelpName = "T" };
        var output = new Option<string>("--out") { Description = "The NDJSON file to write ('-' for stdout); written whole or not at all.", HelpName = "FILE", Required = true };
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "Also save the gateway's signed checkpoint (GET /receipts/head), taken before the export, for 'audit --head'.",
            HelpName = "FILE",
        };
        var command = new Command("export", $"Export one gateway's receipts in chain order as NDJSON, paging GET URL/receipts?after=&limit={PageSize} until a short page.")
        {
            url,
            after,
            gateway,
            token,
            output,
            checkpoint,
        };
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var baseUrl = GatewayHttp.ParseBaseUrl(parseResult.GetValue(url)!);
            var start = AfterSeq(parseResult, after);
            var gatewayId = parseResult.GetValue(gateway);
            if (gatewayId is { Length: 0 })
            {
                // The gateway refuses an empty gateway parameter (400 invalid_query).
                throw CliException.BadInput("--gateway takes a gateway id; leave it out for the answering gateway's own chain.");
            }
            var bearer = parseResult.GetValue(token) ?? (Environment.GetEnvironmentVariable(AuditTokenVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null);
            var outPath = parseResult.GetValue(output)!;
            var checkpointPath = parseResult.GetValue(checkpoint);

            if (checkpointPath is not null && outPath != "-" && SameFile(checkpointPath, outPath))
            {
                // The checkpoint is moved into place after the export: it would replace it.
                throw CliException.BadInput("--out and --checkpoint name the same file: give two different paths.");
            }
            byte[]? head = null;
            long headSeq = 0;
            if (checkpointPath is not null)
            {
                AtomicFile.DirectoryOf(checkpointPath);
                // Before the export: every receipt the checkpoint vouches for is then in the export.
                head = await GatewayHttp.GetBytesAsync(context.Http, GatewayHttp.Combine(baseUrl, "/receipts/head"), bearer, cancellationToken).ConfigureAwait(false);
                // A gateway signs checkpoints of its own chain only: saving its checkpoint beside
                // another chain's export would make an honest audit fail.
                (var signer, headSeq) = HeadGateway(head, baseUrl);
                if (gatewayId is not null && signer != gatewayId)
                {
                    throw CliException.BadInput(
                        $"--checkpoint: {baseUrl} signs checkpoints of its own chain ({signer}) only, not of {gatewayId}; export {gatewayId} with --checkpoint from that gateway's own URL, or without --checkpoint.");
                }
                // The export is of the chain the checkpoint vouches for, even if another instance
                // behind the same URL answers a later page.
                gatewayId = signer;
            }

            var toStdout = outPath == "-";
            // Every output's directory is checked before anything is written.
            var temp = toStdout ? null : AtomicFile.TempBeside(outPath);
            var progress = new ProgressMeter(context.Err, context.Time, "exported");
            long last = start;
            // The last receipt written (or, with --after N, receipt N): every page after it starts
            // one receipt early, with it, so that an instance that does not hold the chain (behind
            // a load balancer it answers an empty page) is told apart from the chain's end.
            var anchored = start > 0;
            string? lastHash = null;
            try
            {
                await using (var file = temp is null ? null : new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
                {
                    while (true)
                    {
                        var from = anchored ? last - 1 : last;
                        var query = $"/receipts?after={from.ToString(CultureInfo.InvariantCulture)}&limit={PageSize}"
                            + (gatewayId is null ? "" : "&gateway=" + Uri.EscapeDataString(gatewayId));
                        var page = await GatewayHttp.GetBytesAsync(context.Http, GatewayHttp.Combine(baseUrl, query), bearer, cancellationToken).ConfigureAwait(false);
                        var lines = NdjsonLines.Read(page).ToList();
                        // A gateway holding the chain answers a short page only at its end.
                        var full = lines.Count == PageSize;
                        if (anchored)
                        {
                            var overlap = lines.Count == 0 ? default : SeqOf(lines[0], baseUrl);
                            // With --after N the first page's anchor is receipt N, whose hash is not known.
                            gatewayId ??= overlap.Gateway;
                            if (lines.Count == 0 || overlap.Seq != last || overlap.Gateway != gatewayId || (lastHash is not null && overlap.Hash != lastHash))
                            {
                                throw CliException.Network($"{baseUrl} answered the page after seq {last} of {(gatewayId is null ? "its chain" : $"gateway {gatewayId}")} without its receipt {last}: an instance that does not hold that chain answered (several gateways at this URL?), or the chain has no receipt {last} (--after beyond its end); export from the gateway's own URL.");
                            }
                            lines.RemoveAt(0);
                        }
                        if (lines.Count == 0)
                        {
                            break;
                        }
                        var pageLast = last;
                        string? pageHash = null;
                        foreach (var line in lines)
                        {
                            var (seq, chain, hash) = SeqOf(line, baseUrl);
                            // Without --gateway each page is "the answering gateway's chain": behind a
                            // load balancer pages of several chains would be spliced into one export.
                            // The first receipt names the chain; every later page asks for it.
                            gatewayId ??= chain;
                            if (chain != gatewayId)
                            {
                                throw CliException.Network($"{baseUrl} answered a receipt of gateway {chain} (seq {seq}) while exporting the chain of {gatewayId}: several gateways answer at this URL; pass --gateway ID.");
                            }
                            pageLast = seq;
                            pageHash = hash;
                            if (file is not null)
                            {
                                await file.WriteAsync(line.Bytes, cancellationToken).ConfigureAwait(false);
                                file.WriteByte((byte)'\n');
                            }
                            else
                            {
                                await context.Out.WriteLineAsync(Encoding.UTF8.GetString(line.Bytes)).ConfigureAwait(false);
                            }
                            progress.Add();
                        }
                        if (pageLast <= last)
                        {
                            throw CliException.Network($"{baseUrl} answered receipts up to seq {pageLast} when asked for those after {last}: it does not page as a gateway does.");
                        }
                        last = pageLast;
                        lastHash = pageHash;
                        anchored = true;
                        if (!full)
                        {
                            break;
                        }
                    }
                    if (headSeq > last)
                    {
                        // The checkpoint, taken first, vouches for receipts this export does not hold:
                        // an instance without the chain answered the first page.
                        throw CliException.Network($"{baseUrl} answered receipts of gateway {gatewayId} up to seq {last} only, but its checkpoint is at seq {headSeq}: an instance that does not hold that chain answered (several gateways at this URL?); export from the gateway's own URL.");
                    }
                    if (file is not null)
                    {
                        await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                        file.Flush(flushToDisk: true);
                    }
                }
                if (temp is not null)
                {
                    AtomicFile.MoveIntoPlace(temp, outPath, overwrite: true);
                }
            }
            finally
            {
                if (temp is not null)
                {
                    File.Delete(temp);
                }
            }
            if (checkpointPath is not null)
            {
                AtomicFile.Write(checkpointPath, head, ownerOnly: false, overwrite: true);
            }

            await context.Err.WriteLineAsync(
                $"exported {progress.Count} receipts (seq {(progress.Count == 0 ? "none" : $"{start + 1}..{last}")}) from {baseUrl} to {(toStdout ? "stdout" : outPath)} ({progress.Rate()}/s)"
                + (checkpointPath is null ? "" : $"; checkpoint saved to {checkpointPath}")).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command VerifyCommand(CliContext context)
    {
        var file = new Argument<string>("FILE") { Description = "A receipt document (JSON), an /execute answer holding one, or '-' for stdin." };
        var keys = new TrustedKeys.Options();
        var command = new Command("verify", "Verify one receipt document offline: its hash, its inclusion in its signed batch, and the signature.");
        command.Arguments.Add(file);
        keys.AddTo(command);
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var path = parseResult.GetValue(file)!;
            var bytes = await ReadInputAsync(path, cancellationToken).ConfigureAwait(false);
            var (document, answer, notADocument) = ParseDocument(bytes, path == "-" ? "stdin" : path);
            var trusted = await keys.LoadAsync(parseResult, context, cancellationToken).ConfigureAwait(false);
            if (document is null)
            {
                await context.Report.WriteLineAsync(Row("format", false, "", notADocument!)).ConfigureAwait(false);
                await context.Report.WriteLineAsync("INVALID").ConfigureAwait(false);
                return ExitCodes.VerificationFailed;
            }

            var checks = ReceiptVerifier.Verify(document, trusted.For(document.Body.Gateway));
            var body = document.Body;
            await context.Report.WriteLineAsync($"receipt exec_id {body.ExecId}: gateway {body.Gateway}, seq {body.Seq}, action {body.Action}, decision {body.Decision}, kid {document.Kid}").ConfigureAwait(false);
            await context.Report.WriteLineAsync(Row("hash", checks.Hash == true, "the body hashes (JCS, SHA-256) to 'hash'", "the body does not hash to 'hash': the receipt was altered")).ConfigureAwait(false);
            await context.Report.WriteLineAsync(Row("inclusion", checks.Inclusion == true, $"leaf {document.Batch.Index} of a batch of {document.Batch.Size} leads to the signed root", "the inclusion path does not lead to a batch root")).ConfigureAwait(false);
            await context.Report.WriteLineAsync(Row(
                "signature",
                checks.Signature == true,
                $"Ed25519 over the batch root, key {document.Kid}",
                trusted.NotTrustedFor(document.Kid, body.Gateway) ?? $"does not verify under key {document.Kid}")).ConfigureAwait(false);
            var valid = checks.Valid;
            if (answer is not null)
            {
                // An /execute answer: what it says beside the document must be what the receipt signed.
                var problem = AnswerProblem(answer, document);
                await context.Report.WriteLineAsync(Row("answer", problem is null, "the answer's id, action, upstream_status, receipt and result are the ones the receipt records", problem ?? "")).ConfigureAwait(false);
                valid &= problem is null;
            }
            await context.Report.WriteLineAsync(valid ? "VALID" : "INVALID").ConfigureAwait(false);
            return valid ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        });
        return command;
    }

    private static Command AuditCommand(CliContext context)
    {
        var file = new Option<string>("--file") { Description = "The NDJSON export to audit (from 'receipts export'); may hold several gateways' chains.", HelpName = "FILE", Required = true };
        var head = new Option<string>("--head") { Description = "A signed checkpoint (GET /receipts/head) the export must reach: shows the tail was not cut.", HelpName = "CHECKPOINT_FILE" };
        var after = new Option<long>("--after") { Description = "The export starts after this seq (as given to 'export --after'): each chain must start at SEQ+1.", HelpName = "SEQ" };
        var prev = new Option<string>("--prev") { Description = "With --after: the hash of receipt SEQ (from an earlier audit), so the first receipt's link is checked too.", HelpName = "HASH" };
        var keys = new TrustedKeys.Options();
        var command = new Command(
            "audit",
            "Audit an export: every receipt's hash, inclusion proof and signature, and each gateway's whole chain (seq and prev links); "
            + "names the first receipt that fails. Exit code 0 only when everything holds.")
        {
            file,
            head,
            after,
            prev,
        };
        keys.AddTo(command);
        command.SetGuardedAction(context, async (parseResult, cancellationToken) =>
        {
            var path = parseResult.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw CliException.BadInput($"{path} does not exist: pass the file written by 'openexec receipts export'.");
            }
            var start = AfterSeq(parseResult, after);
            var prevHash = parseResult.GetValue(prev);
            if (prevHash is not null && (start == 0 || !Core.Crypto.Hex.IsLowerHex(prevHash, 64)))
            {
                throw CliException.BadInput("--prev takes the 64 lowercase hex hash of receipt SEQ, and needs --after SEQ.");
            }
            Checkpoint? checkpoint = null;
            if (parseResult.GetValue(head) is { } headPath)
            {
                var bytes = await ReadInputAsync(headPath, cancellationToken).ConfigureAwait(false);
                try
                {
                    checkpoint = Checkpoint.Parse(StrictJson.Parse(bytes));
                }
                catch (Exception e) when (e is StrictJsonException or ReceiptFormatException)
                {
                    throw CliException.BadInput($"{headPath} is not a checkpoint (save GET /receipts/head, or use 'export --checkpoint'): {e.Message}", e);
                }
            }
            var trusted = await keys.LoadAsync(parseResult, context, cancellationToken).ConfigureAwait(false);
            if (start > 0 && prevHash is null)
            {
                await context.Err.WriteLineAsync($"note: --after {start} without --prev: the first receipt's link to seq {start} is taken on trust.").ConfigureAwait(false);
            }

            var progress = new ProgressMeter(context.Err, context.Time, "audited");
            var audit = new ReceiptAudit(path, trusted, progress);
            var result = await Task.Run(() => audit.Run(start, prevHash, checkpoint), cancellationToken).ConfigureAwait(false);
            if (checkpoint is not null && !checkpoint.Verify(trusted.For(checkpoint.Gateway)))
            {
                result.Head = new HeadResult(false, trusted.NotTrustedFor(checkpoint.Kid, checkpoint.Gateway) is { } why
                    ? $"the checkpoint is signed by a key not trusted for it: {why}"
                    : $"the checkpoint's signature does not verify under key {checkpoint.Kid}");
            }
            await WriteReportAsync(context.Report, path, result, progress).ConfigureAwait(false);
            return result.Ok ? ExitCodes.Ok : ExitCodes.VerificationFailed;
        });
        return command;
    }

    /// <summary>The --after seq: a chain position some receipt can follow (seq after + 1 exists).</summary>
    private static long AfterSeq(ParseResult parseResult, Option<long> after)
    {
        var seq = parseResult.GetValue(after);
        if (seq is < 0 or long.MaxValue)
        {
            throw CliException.BadInput($"--after must be 0 or a positive seq below {long.MaxValue.ToString(CultureInfo.InvariantCulture)}.");
        }
        return seq;
    }

    private static async Task WriteReportAsync(TextWriter output, string path, AuditResult result, ProgressMeter progress)
    {
        var receipts = result.Format.Passed;
        await output.WriteLineAsync($"audit of {path}: {receipts} receipts in {result.Chains.Count} chain(s) ({progress.Rate()}/s)").ConfigureAwait(false);
        if (result.Format.Failed > 0)
        {
            await output.WriteLineAsync(Tally("format", result.Format)).ConfigureAwait(false);
        }
        foreach (var chain in result.Chains)
        {
            await output.WriteLineAsync($"gateway {chain.Gateway}: {chain.Count} receipts, seq {chain.FirstSeq}..{chain.LastSeq} in file order").ConfigureAwait(false);
            await output.WriteLineAsync(Tally("hash", chain.Hash)).ConfigureAwait(false);
            await output.WriteLineAsync(Tally("inclusion", chain.Inclusion)).ConfigureAwait(false);
            await output.WriteLineAsync(Tally("signature", chain.Signature)).ConfigureAwait(false);
            await output.WriteLineAsync(chain.ChainFailure is { } failure
                ? $"  {"chain",-10} FAILED at {failure.Where}: {failure.Check}: {failure.Detail}"
                : $"  {"chain",-10} ok: seq rises by one and every prev links, {chain.FirstSeq}..{chain.LastSeq}").ConfigureAwait(false);
        }
        if (result.Head is { } head)
        {
            await output.WriteLineAsync($"  {"head",-10} {(head.Ok ? "ok" : "FAILED")}: {head.Detail}").ConfigureAwait(false);
        }
        if (result.Ok)
        {
            await output.WriteLineAsync(receipts == 0 ? "OK: no receipts to audit" : "OK: every check holds").ConfigureAwait(false);
            return;
        }
        if (result.Format.First is { } bad)
        {
            await output.WriteLineAsync($"FAILED: {bad.Where}: format: {bad.Detail}").ConfigureAwait(false);
        }
        foreach (var chain in result.Chains.Where(c => !c.Ok))
        {
            var f = chain.ChainFailure!;
            await output.WriteLineAsync($"FAILED: gateway {chain.Gateway}: first failing receipt {f.Where}, check {f.Check}: {f.Detail}").ConfigureAwait(false);
        }
        if (result.Head is { Ok: false } failedHead)
        {
            await output.WriteLineAsync($"FAILED: head: {failedHead.Detail}").ConfigureAwait(false);
        }
    }

    private static string Tally(string check, CheckTally tally) => tally.First is { } first
        ? $"  {check,-10} FAILED: {tally.Failed} failed, {tally.Passed} ok; first at {first.Where}: {first.Detail}"
        : $"  {check,-10} ok: {tally.Passed} of {tally.Passed}";

    private static string Row(string check, bool ok, string passed, string failed) =>
        $"  {check,-10} {(ok ? "ok" : "FAILED")}: {(ok ? passed : failed)}";

    private static async Task<byte[]> ReadInputAsync(string path, CancellationToken cancellationToken)
    {
        if (path == "-")
        {
            using var stdin = Console.OpenStandardInput();
            using var buffer = new MemoryStream();
            await stdin.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return buffer.ToArray();
        }
        if (!File.Exists(path))
        {
            throw CliException.BadInput($"{path} does not exist.");
        }
        return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A receipt document, or the <c>receipt_document</c> of an /execute answer (then also the
    /// answer). Read as an answer is: its result may carry more digits than a double keeps and be
    /// nested as deep as a result may be, one level below the answer; a receipt document holds no
    /// non-integer number and has a fixed shape. A file that is not one (not JSON, a duplicate
    /// key, a member added, missing or of the wrong type) is not what the gateway signed: the
    /// problem, reported as a failed check, as 'audit' reports such a line. Only an NDJSON export
    /// is a usage error: it is for 'audit'.
    /// </summary>
    private static (ReceiptDocument? Document, StrictObject? Answer, string? Problem) ParseDocument(byte[] bytes, string source)
    {
        try
        {
            var value = StrictJson.ParseAnswer(bytes);
            StrictObject? answer = null;
            if (value is StrictObject obj && obj.TryGet("receipt_document", out var inner))
            {
                answer = obj;
                value = inner;
            }
            return (ReceiptDocument.Parse(value), answer, null);
        }
        catch (StrictJsonException e) when (IsExport(bytes))
        {
            throw CliException.BadInput($"{source} holds more than one JSON document (an export?); to check an NDJSON export use 'openexec receipts audit --file'.", e);
        }
        catch (Exception e) when (e is StrictJsonException or ReceiptFormatException)
        {
            return (null, null, ReceiptAudit.NotADocument(e));
        }
    }

    /// <summary>Whether <paramref name="bytes"/> are NDJSON: a first line that is a JSON document on its own, and more lines.</summary>
    private static bool IsExport(byte[] bytes)
    {
        var lines = NdjsonLines.Read(bytes).Take(2).ToList();
        if (lines.Count < 2)
        {
            return false;
        }
        try
        {
            StrictJson.ParseAnswer(lines[0].Bytes);
            return true;
        }
        catch (StrictJsonException)
        {
            return false;
        }
    }

    /// <summary>The members of an /execute answer, as the gateway writes them (upstream_status only for a routed action).</summary>
    private static readonly string[] AnswerMembers = ["id", "action", "result", "approved", "upstream_status", "receipt", "receipt_document"];

    /// <summary>
    /// Why an /execute answer does not match the receipt it embeds (its <c>id</c>, <c>action</c>,
    /// <c>upstream_status</c>, <c>receipt</c> and <c>result</c>), or null when it does. The answer
    /// must have exactly the gateway's shape: a member removed (a result nobody can check) or
    /// added (text the receipt never signed) is not the answer the receipt records.
    /// </summary>
    private static string? AnswerProblem(StrictObject answer, ReceiptDocument document)
    {
        foreach (var member in answer.Properties)
        {
            if (Array.IndexOf(AnswerMembers, member.Key) < 0)
            {
                return $"the answer holds '{member.Key}', which the gateway never writes";
            }
        }
        foreach (var member in AnswerMembers)
        {
            var expected = member != "upstream_status" || document.Body.UpstreamStatus is not null;
            if (answer.TryGet(member, out _) != expected)
            {
                return expected
                    ? $"the answer lacks '{member}'"
                    : "the answer holds 'upstream_status', but the receipt records no backend status";
            }
        }
        if (answer.TryGet("approved", out var approved) && !ReferenceEquals(approved, StrictLiteral.True))
        {
            return "the answer's 'approved' is not true, as the gateway writes it";
        }
        if (answer.TryGet("id", out var id) && (id is not StrictString idText || idText.Value != document.Body.ExecId))
        {
            return "the answer's 'id' is not the receipt's exec_id";
        }
        if (answer.TryGet("action", out var action) && (action is not StrictString actionText || actionText.Value != document.Body.Action))
        {
            return "the answer's 'action' is not the receipt's action";
        }
        // A routed action's backend status tells its own refusal (a 4xx) from success: it is what
        // the receipt signed, not a label the answer's bearer may change.
        if (answer.TryGet("upstream_status", out var upstream)
            && (upstream is not StrictNumber { IsInteger: true } status
                || !int.TryParse(status.Literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code)
                || code != document.Body.UpstreamStatus))
        {
            return "the answer's 'upstream_status' is not the backend status the receipt records";
        }
        if (answer.TryGet("receipt", out var receipt) && (receipt is not StrictString hash || hash.Value != document.Hash))
        {
            return "the answer's 'receipt' is not the embedded receipt's hash";
        }
        if (answer.TryGet("result", out var result))
        {
            if (document.Body.ResultSha256 is null || document.Body.ResultForm != ResultHash.CanonicalForm)
            {
                return "the answer carries a result, but the receipt records no canonical result hash";
            }
            if (!string.Equals(ResultHash.Canonical(result), document.Body.ResultSha256, StringComparison.Ordinal))
            {
                return "the answer's 'result' does not hash to the receipt's result_sha256: the result was altered";
            }
        }
        return null;
    }

    /// <summary>
    /// Whether two paths name one file: compared with every symbolic link on the way resolved
    /// (a linked directory spells one file two ways), and without regard to case where the file
    /// system usually ignores it.
    /// </summary>
    private static bool SameFile(string a, string b)
    {
        var comparison = OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        return string.Equals(RealPath(a), RealPath(b), comparison);
    }

    /// <summary>The most symbolic links one path may pass through, as Linux's SYMLOOP_MAX (40).</summary>
    private const int MaxLinks = 40;

    private static string RealPath(string path)
    {
        var links = 0;
        return RealPath(path, ref links);
    }

    private static string RealPath(string path, ref int links)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full) ?? "";
        var current = root;
        foreach (var part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            // The link's final target may itself pass through linked directories: resolved too.
            // Links that lead back into one another (a -> b/x, b -> a/y) are a loop the kernel
            // refuses (ELOOP): bounded here too, or the recursion overflows the stack.
            if ((info.Exists ? info.ResolveLinkTarget(returnFinalTarget: true) : null) is { } target)
            {
                if (++links > MaxLinks)
                {
                    throw CliException.BadInput($"Too many levels of symbolic links in '{path}'.");
                }
                current = RealPath(target.FullName, ref links);
            }
            else
            {
                current = next;
            }
        }
        return current;
    }

    /// <summary>
    /// The gateway a checkpoint (GET /receipts/head) names, and its seq. Read strictly, as
    /// 'audit --head' reads it: a lax reader would follow one of two "gateway" keys and save a
    /// checkpoint the audit then refuses.
    /// </summary>
    private static (string Gateway, long Seq) HeadGateway(byte[] head, Uri baseUrl)
    {
        Checkpoint checkpoint;
        try
        {
            checkpoint = Checkpoint.Parse(StrictJson.Parse(head));
        }
        catch (Exception e) when (e is StrictJsonException or ReceiptFormatException)
        {
            throw CliException.Network($"{baseUrl} answered a checkpoint that is not one ({e.Message}): is this an OpenExec gateway?", e);
        }
        return (checkpoint.Gateway, checkpoint.Seq);
    }

    private static (long Seq, string Gateway, string Hash) SeqOf(NdjsonLine line, Uri baseUrl)
    {
        try
        {
            var document = ReceiptDocument.Parse(StrictJson.Parse(line.Bytes));
            return (document.Body.Seq, document.Body.Gateway, document.Hash);
        }
        catch (Exception e) when (e is StrictJsonException or ReceiptFormatException)
        {
            throw CliException.Network($"{baseUrl} answered a line that is not a receipt document ({e.Message}): is this an OpenExec gateway?", e);
        }
    }
}
