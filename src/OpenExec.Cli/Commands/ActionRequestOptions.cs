using System.CommandLine;
using System.Text;
using OpenExec.Cli.Infrastructure;
using OpenExec.Core.Approvals;
using OpenExec.Core.Json;

namespace OpenExec.Cli.Commands;

/// <summary>The request being approved or hashed.</summary>
/// <param name="Action">The action name.</param>
/// <param name="Payload">The payload the action hash covers: the /execute payload, or the proxied-request payload.</param>
/// <param name="Description">What the payload is, for notes on stderr.</param>
internal sealed record ActionRequest(string Action, StrictValue Payload, string Description)
{
    public string Hash => ActionHash.Compute(Action, Payload);

    /// <summary>The ClawShield canonical JSON of <c>{"action","payload"}</c>: the bytes the hash is taken over.</summary>
    public string CanonicalJson => ClawShieldJson.SerializeToString(new StrictObject(
    [
        new("action", new StrictString(Action)),
        new("payload", Payload),
    ]));
}

/// <summary>
/// The options that name a request, shared by <c>approve</c> and <c>hash</c>: <c>--action</c> with
/// either <c>--payload</c> (an <c>/execute</c> call) or <c>--http</c> (a proxied call, SPEC section 5).
/// </summary>
internal sealed class ActionRequestOptions
{
    private const string DefaultContentType = "application/json";

    private readonly Option<string> _action = new("--action")
    {
        Description = "The action name, as the gateway knows it (a built-in action or a route's OpenExec.Action).",
        Required = true,
    };

    private readonly Option<string> _payload = new("--payload")
    {
        Description = "An /execute call's payload: a JSON object (default {}). Not with --http.",
        HelpName = "JSON",
    };

    private readonly Option<string[]> _http = new("--http")
    {
        Description = "A proxied call instead: its method and raw path exactly as the agent sends them (a '?query' on PATH is split off).",
        HelpName = "METHOD PATH",
        Arity = new ArgumentArity(2, 2),
        AllowMultipleArgumentsPerToken = true,
    };

    private readonly Option<string> _query = new("--query")
    {
        Description = "With --http: the raw query string, without '?' (default: none).",
        HelpName = "Q",
    };

    private readonly Option<string> _body = new("--body")
    {
        Description = "With --http: the request body, read from FILE (or @FILE, as curl writes it) if such a file exists; a JSON body may instead be given inline; '-' reads stdin. Default: no body.",
        HelpName = "FILE|JSON",
    };

    private readonly Option<string> _contentType = new("--content-type")
    {
        Description = $"With --http: the request's Content-Type (default {DefaultContentType} when there is a body, none without). application/json (with at most charset=utf-8) is hashed as parsed JSON; any other type, JSON-based ones such as application/merge-patch+json included, as the whole Content-Type (parameters too) with the length and SHA-256 of the bytes, which must then be exactly the bytes the agent sends.",
        HelpName = "TYPE",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(_action);
        command.Options.Add(_payload);
        command.Options.Add(_http);
        command.Options.Add(_query);
        command.Options.Add(_body);
        command.Options.Add(_contentType);
    }

    /// <summary>The request the options describe; throws <see cref="CliException"/> (exit 2) on a bad combination or bad JSON.</summary>
    public async Task<ActionRequest> ResolveAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        var action = parseResult.GetValue(_action)!;
        if (!OpenExec.Core.Approvals.ActionName.IsValid(action))
        {
            // The gateway refuses any other name before it looks at an approval.
            throw CliException.BadInput($"--action '{action}' is not an action name: {OpenExec.Core.Approvals.ActionName.Rule}.");
        }
        var payloadText = parseResult.GetValue(_payload);
        // An array option not given reads as empty, not null.
        var http = parseResult.GetValue(_http) is { Length: > 0 } given ? given : null;
        var query = parseResult.GetValue(_query);
        var body = parseResult.GetValue(_body);
        var contentType = parseResult.GetValue(_contentType);

        if (http is null)
        {
            if (query is not null || body is not null || contentType is not null)
            {
                throw CliException.BadInput("--query, --body and --content-type describe a proxied call: use them with --http METHOD PATH.");
            }
            return new ActionRequest(action, ParseExecutePayload(payloadText), "/execute payload");
        }
        if (payloadText is not null)
        {
            throw CliException.BadInput("Use either --payload (an /execute call) or --http (a proxied call), not both.");
        }

        var method = http[0];
        if (method.Length == 0 || !method.All(c => char.IsAsciiLetter(c) || c == '-'))
        {
            throw CliException.BadInput($"'{method}' is not an HTTP method: --http takes METHOD PATH, e.g. --http POST /v1/send.");
        }
        var (path, pathQuery) = ProxiedRequestPayload.SplitTarget(http[1]);
        if (http[1].Contains('?', StringComparison.Ordinal))
        {
            if (query is not null)
            {
                throw CliException.BadInput("The query is given twice: in PATH after '?' and in --query. Give it once.");
            }
            query = pathQuery;
        }
        if (!ProxiedRequestPayload.IsCanonicalPath(path))
        {
            throw CliException.BadInput(
                $"'{path}' is not a canonical path, so the gateway would refuse the call (path_not_canonical): it must start with '/' and have no encoded '/', '\\' or '.', no '//', no '.' or '..' segments.");
        }

        if (query is not null && query.StartsWith('?') && !http[1].Contains('?', StringComparison.Ordinal))
        {
            // "--query '?a=1'" would approve the query "?a=1" (a target "/p??a=1"), not "a=1".
            throw CliException.BadInput($"--query takes the query without its '?': '{query[1..]}' (or put it on PATH: '{path}{query}').");
        }
        foreach (var (part, text) in new[] { ("PATH", path), ("query", query ?? "") })
        {
            // The approval covers the request-target as it travels; a client percent-encodes
            // anything else first, and the hash of what it sends would differ.
            if (text.Any(c => c is <= ' ' or > '~' or '#'))
            {
                throw CliException.BadInput($"The {part} '{text}' has a character a request-target cannot carry (a space, a control, '#' or non-ASCII): give it percent-encoded, exactly as the client will send it.");
            }
        }
        // The gateway refuses a target its forwarder would not send byte for byte
        // (path_not_canonical, invalid_query): no approval would ever run for it.
        if (!ProxiedRequestPayload.ForwardsAsSentPath(path))
        {
            throw CliException.BadInput(UnencodedProblem("PATH", path, "path_not_canonical", query: false)
                ?? $"The PATH '{path}' would not reach the backend as sent, so the gateway would refuse the call (path_not_canonical): percent-encode only characters that must be encoded (not letters, digits, '-._~!$&'()*+,;=:@'), as UTF-8, and write '%' as %25.");
        }
        if (!ProxiedRequestPayload.ForwardsAsSentQuery(query ?? ""))
        {
            throw CliException.BadInput(UnencodedProblem("query", query!, "invalid_query", query: true)
                ?? $"The query '{query}' would not reach the backend as sent, so the gateway would refuse the call (invalid_query): do not percent-encode letters, digits or '-._~', and write '%' as %25.");
        }
        if (ProxiedRequestPayload.QueryKeyCollision(query ?? "") is { } collision)
        {
            throw CliException.BadInput($"{collision}. The gateway would refuse the call (invalid_query).");
        }

        if (!ProxiedRequestPayload.TryCanonicalContentType(contentType, out _))
        {
            throw CliException.BadInput($"--content-type '{contentType}' is not a media type with parameters written once each (type/subtype; name=value); the gateway would refuse it (415 unsupported_media_type).");
        }
        if (ProxiedRequestPayload.IsJsonMediaType(contentType) && ProxiedRequestPayload.NamesOtherCharset(contentType))
        {
            // The gateway answers 415 to a JSON body in any charset but UTF-8.
            throw CliException.BadInput($"--content-type '{contentType}': the gateway refuses a JSON body in any charset but UTF-8 (415 unsupported_media_type); send no charset or charset=utf-8.");
        }
        byte[] bytes = [];
        var source = "no body";
        if (body is not null)
        {
            contentType ??= DefaultContentType;
            (bytes, source) = await ReadBodyAsync(body, ProxiedRequestPayload.IsJsonMediaType(contentType), cancellationToken).ConfigureAwait(false);
        }
        StrictValue bodyValue;
        try
        {
            bodyValue = ProxiedRequestPayload.Body(contentType, bytes);
        }
        catch (StrictJsonException e)
        {
            throw CliException.BadInput(
                $"the body ({source}) is not strict JSON ({e.Code}: {e.Message}); the gateway would refuse it. For a non-JSON body pass its --content-type.", e);
        }
        var payload = ProxiedRequestPayload.Create(method, path, query ?? "", bodyValue);
        ProxiedRequestPayload.TryCanonicalContentType(contentType, out var canonical);
        var media = canonical ?? "no content type";
        return new ActionRequest(action, payload, $"proxied {method.ToUpperInvariant()} {path} ({source}, {media})");
    }

    /// <summary>
    /// The refusal for a PATH or query with characters the gateway's forwarder would send encoded
    /// (<c>|</c>, <c>{</c>), naming each and its escape as the gateway's refusal does; null when
    /// it has none, and the refusal is about its escapes.
    /// </summary>
    private static string? UnencodedProblem(string part, string text, string code, bool query)
    {
        var characters = ProxiedRequestPayload.UnencodedCharacters(text, query);
        if (characters.Count == 0)
        {
            return null;
        }
        var which = characters.Count == 1 ? "a character" : "characters";
        return $"The {part} '{text}' has {which} the gateway's forwarder would send percent-encoded, so the gateway would refuse the call ({code}): {ProxiedRequestPayload.EncodingAdvice(characters)}, both here and in the request the client sends.";
    }

    private static StrictValue ParseExecutePayload(string? text)
    {
        if (text is null)
        {
            return StrictObject.Empty;
        }
        StrictValue payload;
        try
        {
            payload = StrictJson.Parse(text);
        }
        catch (StrictJsonException e)
        {
            throw CliException.BadInput($"--payload is not strict JSON ({e.Code}: {e.Message}).", e);
        }
        if (payload is not StrictObject)
        {
            throw CliException.BadInput("--payload must be a JSON object, e.g. '{\"msg\":\"hello\"}': the gateway refuses any other payload.");
        }
        // Inside the /execute body the payload is one level deeper than given here.
        return Depth(payload) < StrictJson.MaxDepth
            ? payload
            : throw CliException.BadInput($"--payload nests {Depth(payload)} levels deep; inside the /execute body that is one more than the {StrictJson.MaxDepth} the gateway accepts.");
    }

    private static int Depth(StrictValue value) => value switch
    {
        StrictObject o => 1 + o.Properties.Select(p => Depth(p.Value)).DefaultIfEmpty(0).Max(),
        StrictArray a => 1 + a.Items.Select(Depth).DefaultIfEmpty(0).Max(),
        _ => 0,
    };

    private static async Task<(byte[] Bytes, string Source)> ReadBodyAsync(string body, bool json, CancellationToken cancellationToken)
    {
        if (body.Length == 0)
        {
            // An unset shell variable, most likely: for no body, leave --body out.
            throw CliException.BadInput("--body is empty: give a file, '-' for stdin, or leave --body out for no body.");
        }
        if (body is "-" or "@-")
        {
            using var stdin = Console.OpenStandardInput();
            using var buffer = new MemoryStream();
            await stdin.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
            return (buffer.ToArray(), $"{buffer.Length} bytes from stdin");
        }
        // '@file' always names a file, as it does for curl (a file whose name starts with '@' is
        // './@name'); then the file must exist.
        var file = body.StartsWith('@') ? body[1..] : body;
        if (File.Exists(file) || file != body)
        {
            var bytes = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false);
            return (bytes, $"{bytes.Length} bytes from file {file}");
        }
        if (!json)
        {
            // Not a file: only a JSON body may be given inline. Otherwise a mistyped file name
            // would be hashed as the body, and the approval would be for other bytes.
            throw CliException.BadInput($"--body: there is no file '{body}'; a non-JSON body comes from a file (or '-' for stdin).");
        }
        var inline = Encoding.UTF8.GetBytes(body);
        return (inline, $"{inline.Length} bytes given inline");
    }
}
