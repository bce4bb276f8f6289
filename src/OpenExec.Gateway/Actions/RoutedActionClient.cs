using System.Net.Http.Headers;
using OpenExec.Core.Crypto;
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
internal sealed partial class RoutedActionClient(IProxyStateLookup proxyState, GatewaySettings settings, ExecutionPipeline pipeline, ILogger<RoutedActionClient> log)
{
    /// <summary>What the call produced: a result to return, or the problem to answer.</summary>
    internal sealed record RoutedResult(ExecutionOutcome Outcome, StrictValue? Result, int Status, string? Detail);

    public async Task<RoutedResult> InvokeAsync(ActionDefinition action, StrictObject payload, string nonce, ExecutionTicket ticket, Telemetry.RequestTrace trace, CancellationToken requestAborted)
    {
        try
        {
            return await CallAsync(action, payload, nonce, ticket, trace, requestAborted).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // A failure no classification below foresaw: whether the request left is unknown, so
            // the claim is kept and recorded as outcome_unknown (never left in progress).
            LogUnforeseen(log, action.Name, Telemetry.BackendAnswerText.ForLog(ex));
            return Unknown();
        }
    }

    private async Task<RoutedResult> CallAsync(ActionDefinition action, StrictObject payload, string nonce, ExecutionTicket ticket, Telemetry.RequestTrace trace, CancellationToken requestAborted)
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
            // The cluster's HTTP version settings, as the proxied door uses them: a backend that
            // speaks only HTTP/2 refuses an HTTP/1.1 request with a 400 that would read as an answer.
            Version = cluster.Model.Config.HttpRequest?.Version ?? System.Net.HttpVersion.Version11,
            VersionPolicy = cluster.Model.Config.HttpRequest?.VersionPolicy ?? HttpVersionPolicy.RequestVersionOrLower,
        };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (destination.Model.Config.Host is { Length: > 0 } host)
        {
            // The destination's own Host, as YARP sends it on the proxied door (a virtual host;
            // over TLS also the name the certificate is checked against).
            message.Headers.Host = host;
        }
        message.Headers.TryAddWithoutValidation("Idempotency-Key", Pipeline.RequestRules.IdempotencyKey(nonce));
        message.Headers.TryAddWithoutValidation("OpenExec-Exec-Id", ticket.ExecId);
        // The receipt's trace, and nothing else of the agent's trace headers (no baggage).
        trace.WriteTo(message.Headers);

        // Once sent, the call runs to its end even if the agent hangs up: its outcome must be known.
        // The whole call, answer included, within the action's timeout (its cluster's, if set):
        // the claim's lease was sized by the same value.
        using var timeout = new CancellationTokenSource(ticket.CallTimeout);
        if (!pipeline.MaySend(ticket))
        {
            LogTooLate(log, action.Name, ticket.ExecId);
            return NotSent(ExecutionPipeline.TooLateDetail);
        }
        HttpResponseMessage response;
        try
        {
            response = await cluster.Model.HttpClient.SendAsync(message, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && BackendDelivery.NothingSent(ex))
        {
            return NotSent(BackendDelivery.NotSentDetail);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return Unknown();
        }

        using (response)
        {
            var status = (int)response.StatusCode;
            byte[] body;
            try
            {
                var (held, tooLarge, length) = await ReadBoundedAsync(response.Content, settings.Options.MaxBufferedResponse, timeout.Token).ConfigureAwait(false);
                if (!MatchesDeclaredLength(response, length))
                {
                    // Incomplete, or framed two ways: not an answer to record as the result.
                    return Unknown(status);
                }
                if (tooLarge is { } sha256)
                {
                    // Held in memory it could take the gateway down; the action ran all the same.
                    return new RoutedResult(
                        new ExecutionOutcome(status >= 500 ? Decisions.UpstreamFailed : Decisions.Executed, "upstream_too_large", sha256, "bytes", status),
                        null, 502, $"The backend answered {status} with more than OpenExec:MaxBufferedResponse ({settings.Options.MaxBufferedResponse} bytes); the action ran");
                }
                body = held;
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
            {
                // The head arrived: the receipt says what the backend began to answer.
                return Unknown(status);
            }
            if (status >= 500)
            {
                return new RoutedResult(
                    new ExecutionOutcome(Decisions.UpstreamFailed, "upstream_failed", ResultHash.OfBytes(body), "bytes", status),
                    null, 502, $"The backend answered {status}");
            }
            StrictValue result;
            try
            {
                result = StrictJson.ParseResult(body);
            }
            catch (StrictJsonException ex)
            {
                // Which rule it broke: JSON that RFC 8259 allows (a duplicate key, 1e400, a lone
                // surrogate) is refused by the strict rules the result is hashed under.
                return new RoutedResult(
                    new ExecutionOutcome(Decisions.Executed, "upstream_not_json", ResultHash.OfBytes(body), "bytes", status),
                    null, 502, body.Length == 0
                        ? $"The backend answered {status} with no body, not the JSON answer /execute returns; the action ran"
                        : $"The backend answered {status} with a body that is not strict JSON ({ex.Code}: {ex.Message}); the action ran");
            }
            return new RoutedResult(ExecutionOutcome.Executed(ResultHash.OfCanonical(result), "canonical", status), result, 200, null);
        }
    }

    /// <summary>
    /// The answer's bytes when they fit in <paramref name="limit"/>; otherwise nothing held and
    /// the SHA-256 of all of them (read to the end: the receipt records what was answered).
    /// </summary>
    private static async Task<(byte[] Body, Sha256Digest? TooLargeSha256, long Length)> ReadBoundedAsync(HttpContent content, long limit, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var held = new MemoryStream();
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            System.Security.Cryptography.IncrementalHash? hash = null;
            try
            {
                int read;
                long length = 0;
                while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    length += read;
                    if (hash is null && held.Length + read > limit)
                    {
                        hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
                        hash.AppendData(held.GetBuffer(), 0, (int)held.Length);
                        held.SetLength(0);
                    }
                    if (hash is null)
                    {
                        held.Write(chunk, 0, read);
                    }
                    else
                    {
                        hash.AppendData(chunk, 0, read);
                    }
                }
                return hash is null ? (held.ToArray(), null, length) : ([], Sha256Digest.FromBytes(hash.GetHashAndReset()), length);
            }
            finally
            {
                hash?.Dispose();
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// Whether the body that came is the one the head announced (<see cref="BackendDelivery.WholeAnswer"/>,
    /// as the proxied door asks), read from the head as the backend sent it: one that declares
    /// two different lengths is malformed too (RFC 9112 section 6.3; HttpClient reads by one of
    /// them), and a chunked answer's length is its chunks'.
    /// </summary>
    private static bool MatchesDeclaredLength(HttpResponseMessage response, long length)
    {
        // Framed by chunks, the answer's length is the chunks' (RFC 9112 section 6.3: chunked
        // framing overrides a Content-Length), and HttpClient read it so, as the proxied door does.
        if (response.Headers.TransferEncodingChunked == true)
        {
            return true;
        }
        if (!BackendDelivery.DeclaredLength(response, out var declared, out _))
        {
            return false;
        }
        if (declared is null)
        {
            return true;
        }
        return long.TryParse(declared, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var announced)
            ? BackendDelivery.WholeAnswer(announced, (int)response.StatusCode, toHead: false, length)
            : (int)response.StatusCode is 204 or 205 or 304;
    }

    private static RoutedResult NotSent(string detail) => new(BackendDelivery.NotSent(), null, 502, detail);

    /// <param name="upstreamStatus">The backend's status when its answer's head arrived before the call broke off.</param>
    private static RoutedResult Unknown(int? upstreamStatus = null) => new(BackendDelivery.Unknown(upstreamStatus), null, 504, BackendDelivery.UnknownDetail);

    [LoggerMessage(2, LogLevel.Warning, "The call of routed action {Action} ({ExecId}) was not sent: the gateway was held up past the time it could still start within its claim's lease")]
    private static partial void LogTooLate(ILogger logger, string action, string execId);

    [LoggerMessage(1, LogLevel.Error, "The call of routed action {Action} failed in an unforeseen way; recorded as outcome_unknown")]
    private static partial void LogUnforeseen(ILogger logger, string action, Exception exception);
}
