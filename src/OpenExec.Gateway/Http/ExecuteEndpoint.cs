using System.Text.Json;
using OpenExec.Core.Approvals;
using OpenExec.Core.Buffers;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Core.Text;
using OpenExec.Gateway.Actions;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Pipeline;
using OpenExec.Gateway.Telemetry;

namespace OpenExec.Gateway.Http;

/// <summary>
/// The first front door: <c>POST /execute</c> (SPEC section 3). Reads and checks the request
/// (step 1), resolves the action (step 2), and hands the rest to <see cref="ExecutionPipeline"/>.
/// </summary>
internal sealed class ExecuteEndpoint(ExecutionPipeline pipeline, ActionCatalog catalog, GatewaySettings settings, RoutedActionClient routedClient, TraceContextSource traces)
{
    private static readonly string[] Fields = ["action", "payload", "nonce", "approval_artifact"];

    public async Task HandleAsync(HttpContext context)
    {
        using var validate = GatewayTelemetry.Start(GatewayTelemetry.Spans.Validate);
        var body = await RequestBody.ReadJsonObjectAsync(context, settings.Options.MaxRequestBodyBytes).ConfigureAwait(false);
        if (body is null)
        {
            return;
        }
        var parsed = ParseShape(body, settings.Options.IsClawShield, settings.Options.AllowAnyApprovalId);
        if (parsed.Error is { } error)
        {
            await Problem.WriteAsync(context, 400, error.Code, error.Detail).ConfigureAwait(false);
            return;
        }
        var request = parsed.Request!.Value;
        ActionDefinition action;

        // Step 2: the action must exist and be executable from this door, with a payload it can run.
        var found = catalog.Find(request.Action);
        if (found is null)
        {
            await Problem.WriteAsync(context, 400, "unknown_action", $"Unknown action: {request.Action}").ConfigureAwait(false);
            return;
        }
        action = found;
        if (action.Kind == ActionKind.Routed && action.ExecutePath is null)
        {
            await Problem.WriteAsync(context, 400, "proxy_only", $"Action '{request.Action}' is a proxied route without an OpenExec.ExecutePath; call it through its route").ConfigureAwait(false);
            return;
        }
        var payload = (StrictObject)request.Payload!;
        if (action.Kind == ActionKind.BuiltIn && BuiltInActions.Validate(action.Name, payload) is { } payloadProblem)
        {
            await Problem.WriteAsync(context, 400, "invalid_payload", payloadProblem).ConfigureAwait(false);
            return;
        }

        validate?.Dispose();
        var trace = traces.For(context);

        if (action.Kind == ActionKind.BuiltIn)
        {
            // Step 7 for an in-process action: its result depends on the request alone and
            // nothing leaves the process before the receipt is durable, so it is worked out first
            // and recorded in the same write as the claim (one durable write, not two).
            StrictValue result;
            using (GatewayTelemetry.Start(GatewayTelemetry.Spans.ActionInvoke))
            {
                result = BuiltInActions.Run(action.Name, payload);
            }
            var recorded = await pipeline.AuthorizeAndRecordAsync(request, trace.TraceId, ExecutionOutcome.Executed(ResultHash.OfCanonical(result), "canonical"), context.RequestAborted).ConfigureAwait(false);
            if (recorded.Denial is { } refused)
            {
                await Problem.WriteAsync(context, refused).ConfigureAwait(false);
                return;
            }
            await WriteExecutedAsync(context, recorded.Ticket!, result, recorded.Recorded!).ConfigureAwait(false);
            return;
        }

        var authorization = await pipeline.AuthorizeAsync(request, trace.TraceId, context.RequestAborted).ConfigureAwait(false);
        if (authorization.Denial is { } denial)
        {
            await Problem.WriteAsync(context, denial).ConfigureAwait(false);
            return;
        }
        var ticket = authorization.Ticket!;

        // Step 7: execute exactly once, record, answer.
        RoutedActionClient.RoutedResult routed;
        using (var invoke = GatewayTelemetry.Start(GatewayTelemetry.Spans.ActionInvoke))
        {
            routed = await routedClient.InvokeAsync(action, payload, request.Nonce, ticket, trace, context.RequestAborted).ConfigureAwait(false);
            GatewayTelemetry.Invoked(invoke, routed.Outcome);
        }
        var receipt = await pipeline.CompleteAsync(ticket, routed.Outcome, CancellationToken.None).ConfigureAwait(false);
        if (routed.Result is { } routedResult)
        {
            await WriteExecutedAsync(context, ticket, routedResult, receipt).ConfigureAwait(false);
            return;
        }
        await Problem.WriteAsync(context, routed.Status, routed.Outcome.Code!, routed.Detail!, ticket.ExecId, receipt.Hash, routed.Outcome.UpstreamStatus).ConfigureAwait(false);
    }

    private static async Task WriteExecutedAsync(HttpContext context, ExecutionTicket ticket, StrictValue result, ReceiptDocument document)
    {
        using var buffer = new PooledBufferWriter(2048);
        // Escaped as the stored document is: the receipt in the answer is the same text as the one
        // /receipts serves (a tenant or approval id with '+', '<' or non-ASCII was written with
        // escapes here and without them there).
        using (var json = new Utf8JsonWriter(buffer, ReceiptDocument.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("id", ticket.ExecId);
            json.WriteString("action", ticket.Action);
            json.WritePropertyName("result");
            StrictValueWriter.Write(json, result);
            json.WriteBoolean("approved", true);
            if (document.Body.UpstreamStatus is { } upstream)
            {
                // A routed action's backend status (a 4xx is the backend's own refusal).
                json.WriteNumber("upstream_status", upstream);
            }
            json.WriteString("receipt", document.Hash);
            json.WritePropertyName("receipt_document");
            document.WriteTo(json);
            json.WriteEndObject();
        }
        var response = context.Response;
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.ContentLength = buffer.WrittenCount;
        response.Headers["OpenExec-Exec-Id"] = ticket.ExecId;
        response.Headers["OpenExec-Receipt"] = document.Hash;
        await response.Body.WriteAsync(buffer.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Step 1 for /execute: strict JSON, then the request's shape.</summary>
    internal static (ExecutionRequest? Request, (string Code, string Detail)? Error) Parse(ReadOnlySpan<byte> body, bool clawShield, bool anyApprovalId = false)
    {
        var (obj, code, detail) = RequestBody.ParseObject(body);
        return obj is null ? (null, (code!, detail!)) : ParseShape(obj, clawShield, anyApprovalId);
    }

    /// <summary>The request's shape: known fields, action name, payload object, nonce, artifact.</summary>
    internal static (ExecutionRequest? Request, (string Code, string Detail)? Error) ParseShape(StrictObject obj, bool clawShield, bool anyApprovalId)
    {
        for (var i = 0; i < obj.Properties.Count; i++)
        {
            var key = obj.Properties[i].Key;
            if (Array.IndexOf(Fields, key) < 0)
            {
                return (null, ("unknown_field", $"Unknown field '{InputText.Abbreviate(key)}': the fields are action, payload, nonce, approval_artifact"));
            }
        }

        if (!obj.TryGet("action", out var actionValue) || actionValue is not StrictString { Value: var action } || !OpenExec.Core.Approvals.ActionName.IsValid(action))
        {
            return (null, ("invalid_action", "action must be a string of 1 to 128 characters from A-Z a-z 0-9 . _ : -"));
        }

        StrictValue payload = StrictObject.Empty;
        if (obj.TryGet("payload", out var payloadValue))
        {
            if (payloadValue is not StrictObject)
            {
                return (null, ("invalid_payload", "payload must be a JSON object (or absent)"));
            }
            payload = payloadValue;
        }

        if (!obj.TryGet("nonce", out var nonceValue) || nonceValue is not StrictString { Value: var nonce } || !RequestRules.IsNonce(nonce))
        {
            return (null, ("invalid_nonce", "nonce must be a string of 1 to 255 printable ASCII characters"));
        }

        ApprovalArtifact? approval = null;
        // Demo mode ignores the artifact, as the seed did; clawshield mode checks its shape here.
        if (clawShield && obj.TryGet("approval_artifact", out var artifactValue) && artifactValue is not StrictLiteral { Text: "null" })
        {
            try
            {
                approval = ApprovalArtifact.Parse(artifactValue, anyApprovalId);
            }
            catch (ApprovalFormatException ex)
            {
                return (null, ("invalid_approval", ex.Message));
            }
        }
        return (new ExecutionRequest(action, payload, nonce, approval), null);
    }
}
