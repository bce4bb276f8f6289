using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace OpenExec.Cli.Infrastructure;

/// <summary>GET requests to a gateway, with every failure turned into one sentence and exit code 3 (or 2 for a missing or refused token).</summary>
internal static class GatewayHttp
{
    /// <summary>Reads <paramref name="url"/> as an absolute http(s) base URL; trailing slashes are dropped.</summary>
    public static Uri ParseBaseUrl(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw CliException.BadInput($"'{OpenExec.Core.Text.SecretText.Address(url)}' is not an http:// or https:// URL: pass the gateway's base address, e.g. http://127.0.0.1:5000.");
        }
        if (uri.UserInfo.Length > 0)
        {
            // It would be printed with every message that names the URL, and the gateway takes
            // audit tokens, not a user and password.
            throw CliException.BadInput($"'{OpenExec.Core.Text.SecretText.Address(url)}' holds a user name or password: the gateway takes an audit token (--token, or OPENEXEC_AUDIT_TOKEN), not those; leave them out of the URL.");
        }
        return uri;
    }

    /// <summary><paramref name="baseUrl"/> joined with a path and query that start with '/'.</summary>
    public static Uri Combine(Uri baseUrl, string pathAndQuery) =>
        new(baseUrl.GetLeftPart(UriPartial.Path).TrimEnd('/') + pathAndQuery);

    public static async Task<byte[]> GetBytesAsync(HttpClient http, Uri url, string? token, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (!string.IsNullOrEmpty(token))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw CliException.Network($"Cannot reach {url}: {e.Message.TrimEnd('.')}. Check the URL and that the gateway is running.", e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw CliException.Network($"No answer from {url} within {CliContext.HttpTimeout.TotalSeconds:0} s.", e);
        }
        using (response)
        {
            byte[] body;
            try
            {
                body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw CliException.Network($"The connection to {url} broke while reading the answer: {e.Message}", e);
            }
            if (response.StatusCode == HttpStatusCode.Unauthorized)
            {
                // A token was sent: saying one is needed would send the auditor looking for the wrong mistake.
                throw CliException.BadInput(string.IsNullOrEmpty(token)
                    ? $"{url} needs an audit token (HTTP 401): pass one of the gateway's OpenExec:AuditTokens in the environment variable OPENEXEC_AUDIT_TOKEN (or --token, which other local users can see in the process list)."
                    : $"{url} refused the audit token (HTTP 401): it is wrong or revoked; pass one of the gateway's current OpenExec:AuditTokens (--token, else the environment variable OPENEXEC_AUDIT_TOKEN).");
            }
            if (!response.IsSuccessStatusCode)
            {
                throw CliException.Network($"{url} answered HTTP {(int)response.StatusCode}{ProblemDetail(body)}.");
            }
            return body;
        }
    }

    /// <summary>The <c>detail</c> of a problem+json answer, if there is one, to quote in the error.</summary>
    private static string ProblemDetail(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("detail", out var detail)
                && detail.ValueKind == JsonValueKind.String)
            {
                return ": " + detail.GetString();
            }
        }
        catch (JsonException)
        {
        }
        return "";
    }
}
