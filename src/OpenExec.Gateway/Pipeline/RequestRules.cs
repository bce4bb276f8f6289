namespace OpenExec.Gateway.Pipeline;

/// <summary>The shape rules both front doors apply to action names and nonces (SPEC section 3).</summary>
internal static class RequestRules
{
    /// <summary>1..128 chars of <c>[A-Za-z0-9._:-]</c>.</summary>
    public static bool IsActionName(string action)
    {
        if (action.Length is 0 or > 128)
        {
            return false;
        }
        foreach (var c in action)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                return false;
            }
        }
        return true;
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
