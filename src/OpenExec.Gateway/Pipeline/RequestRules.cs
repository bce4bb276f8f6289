namespace OpenExec.Gateway.Pipeline;

/// <summary>The shape rules both front doors apply to action names and nonces (SPEC section 3).</summary>
internal static class RequestRules
{
    /// <summary>
    /// The nonce as the <c>Idempotency-Key</c> a backend gets, one key per nonce: verbatim, unless
    /// HTTP or the backend could read it as another: a header value loses its leading and trailing
    /// spaces (" a" would reach the backend as "a", another nonce's key), and a backend that reads
    /// the header as a structured-field string unquotes a value in quotes ("\"a\"" would read as
    /// "a"). Those nonces go as an RFC 8941 string: in quotes, <c>\</c> and <c>"</c> escaped (which
    /// is also how the proxied door reads a quoted key).
    /// </summary>
    public static string IdempotencyKey(string nonce)
    {
        if (nonce.Length > 0 && nonce[0] != ' ' && nonce[^1] != ' ' && nonce[0] != '"')
        {
            return nonce;
        }
        var quoted = new System.Text.StringBuilder(nonce.Length + 4).Append('"');
        foreach (var c in nonce)
        {
            if (c is '"' or '\\')
            {
                quoted.Append('\\');
            }
            quoted.Append(c);
        }
        return quoted.Append('"').ToString();
    }

    /// <summary>1..255 printable ASCII chars (0x20..0x7E).</summary>
    public static bool IsNonce(string nonce)
    {
        if (nonce.Length is 0 or > 255)
        {
            return false;
        }
        foreach (var c in nonce)
        {
            if (c is < (char)0x20 or > (char)0x7E)
            {
                return false;
            }
        }
        return true;
    }
}
