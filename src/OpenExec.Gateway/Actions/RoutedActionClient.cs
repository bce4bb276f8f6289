using System.Net.Http.Headers;
using OpenExec.Core.Json;
using OpenExec.Core.Receipts;
using OpenExec.Gateway.Configuration;
using OpenExec.Gateway.Pipeline;
using Yarp.ReverseProxy;

namespace OpenExec.Gateway.Actions;

/// <summary>
/// Step 7 of <c>/execute</c> for a routed action: POST the canonical JSON of the payload to the
/// route's cluster at its <c>OpenExec.ExecutePath</c>, once, through the cluster's own YARP
/// HTTP client, and classify what happened (SPEC section 3's outcome table).
/// </summary>
internal sealed class RoutedActionClient(IProxyStateLookup proxyState)
{
    /// <summary>What the call produced: a result to return, or the problem to answer.</summary>
    internal sealed record RoutedResult(ExecutionOutcome Outcome, StrictValue? Result, int Status, string? Detail);

    public async Task<RoutedResult> InvokeAsync(ActionDefinition action, StrictObject payload, string nonce, ExecutionTicket ticket, CancellationToken requestAborted)
    {
        if (action.ClusterId is null || !proxyState.TryGetCluster(action.ClusterId, out var cluster) || cluster.Model is null)
        {
            return NotSent($"Action '{action.Name}' has no cluster to call");
        }
        // Only destinations YARP considers healthy (all of them when no health check is configured).
        var destinations = cluster.DestinationsState?.AvailableDestinations;
        if (destinations is not { Count: > 0 })
        {
            return NotSent($"No destination of cluster '{action.ClusterId}' is available");
        }
        var destination = destinations[Random.Shared.Next(destinations.Count)];
        var uri = new Uri(new Uri(destination.Model.Config.Address.TrimEnd('/') + "/"), action.ExecutePath!.TrimStart('/'));

        using var message = new HttpRequestMessage(HttpMethod.Post, uri)
        {
            // A request with a body is never re-sent by SocketsHttpHandler once it started sending.
            Content = new ByteArrayContent(ClawShieldJson.Serialize(payload)),
            Version = System.Net.HttpVersion.Version11,
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        message.Headers.TryAddWithoutValidation("Idempotency-Key", nonce);
        message.Headers.TryAddWithoutValidation("OpenExec-Exec-Id", ticket.ExecId);

        // Once sent, the call runs to its end even if the agent hangs up: its outcome must be known.
        // The whole call, answer included, within the action's timeout (its cluster's, if set):
        // the claim's lease was sized by the same value.
        using var timeout = new CancellationTokenSource(ticket.CallTimeout);
        HttpResponseMessage response;
        try
        {
            response = await cluster.Model.HttpClient.SendAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (BackendDelivery.NothingSent(ex))
        {
            return NotSent(BackendDelivery.NotSentDetail);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return Unknown();
        }

        using (response)
        {
            byte[] body;
            try
            {
                body = await response.Content.ReadAsByteArrayAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                return Unknown();
            }
            var status = (int)response.StatusCode;
            if (status >= 500)
            {
                return new RoutedResult(
                    new ExecutionOutcome(Decisions.UpstreamFailed, "upstream_failed", ResultHash.Bytes(body), "bytes", status),
                    null, 502, $"The backend answered {status}");
            }
            StrictValue result;
            try
            {
                result = StrictJson.Parse(body);
            }
            catch (StrictJsonException)
            {
                return new RoutedResult(
                    new ExecutionOutcome(Decisions.Executed, "upstream_not_json", ResultHash.Bytes(body), "bytes", status),
                    null, 502, $"The backend answered {status} with a body that is not JSON; the action ran");
            }
            return new RoutedResult(ExecutionOutcome.Executed(ResultHash.Canonical(result), "canonical", status), result, 200, null);
        }
    }

    private static RoutedResult NotSent(string detail) => new(BackendDelivery.NotSent(), null, 502, detail);

    private static RoutedResult Unknown() => new(BackendDelivery.Unknown(), null, 504, BackendDelivery.UnknownDetail);
}
