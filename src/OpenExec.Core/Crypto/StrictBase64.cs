namespace OpenExec.Core.Crypto;

/// <summary>
/// Standard padded base64 (RFC 4648 section 4), strictly: <see cref="Convert.TryFromBase64String"/>
/// skips whitespace, so the alphabet and padding are checked first.
/// </summary>
public static class StrictBase64
{
    public static bool TryDecode(string? text, out byte[] bytes)
    {
        bytes = [];
        if (text is null || text.Length % 4 != 0)
        {
            return false;
        }
        var padding = text.EndsWith("==", StringComparison.Ordinal) ? 2 : text.EndsWith('=') ? 1 : 0;
        for (var i = 0; i < text.Length - padding; i++)
        {
            var c = text[i];
            if (!(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '+' or '/'))
            {
                return false;
            }
        }
        var decoded = Convert.FromBase64String(text);
        // Refuse stray bits in the last character: one value, one spelling.
        if (!string.Equals(Convert.ToBase64String(decoded), text, StringComparison.Ordinal))
        {
            return false;
        }
        bytes = decoded;
        return true;
    }
}
